"""What the sandbox PDC holds when it starts: PDC records derived from the world and its built RPMs.

Derivation rules (all deterministic for one built world):

- releases: one per world release, ``release_id`` = Release.pdc_id, release type ``ga`` (Fedora's PDC also
  filed Rawhide as a ``ga`` release), inactive when the world says ``eol``, signed with the world's key,
  dist-git branch ``master`` for Rawhide and the release id (``f24``) otherwise.
- release-components: one per package that has a build tagged into the release (any of its tags).
- component-groups: one per world artifact; ``group_type`` = Artifact.group_type, ``description`` = the
  artifact name, ``components`` = the release's components for the artifact's packages.
- release-component-relationships: ``executes`` from each package of an artifact that Requires a path
  (``/usr/bin/docker``) to each other package of the same release whose stable build Provides that path.
- rpms: every built RPM (src first) of the builds in the release's stable tags (roles ``build`` and
  ``updates``); ``linked_composes`` names the release's compose when the build is in the ``build`` tag.
- composes: one per release, holding the RPMs of its ``build`` tag; dated by the newest of those RPMs'
  build times; ``production`` ``RC-1.0`` composes (``Fedora-24-YYYYMMDD.0``), a ``nightly`` one for Rawhide
  (``Fedora-Rawhide-YYYYMMDD.n.0``).
- compose images: productmd images.json data for the release's non-ostree artifacts, one image per arch.
  The images are not files anywhere: sizes and checksums are derived from the compose id and image path.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from typing import Any

from productmd.images import IMAGE_TYPE_FORMAT_MAPPING, SUPPORTED_IMAGE_FORMATS, Image, Images

from relengotron_sandbox.world import Artifact, Build, Release, World
from relengotron_sandbox.worldbuild import BuiltRPM, BuiltWorld

STABLE_ROLES = ("build", "stable")  # tags whose builds are part of the released distribution
COMPOSE_ROLES = ("build",)  # tags whose builds went into the release's compose
DEP_TYPES = ("provides", "requires", "obsoletes", "conflicts", "recommends", "suggests")
RELATIONSHIP_TYPE = "executes"
# artifact kind → (compose variant, subvariant, productmd image type, bootable)
IMAGE_KINDS: dict[str, tuple[str, str, str, bool]] = {
    "installer-iso": ("Server", "Server", "dvd", True),
    "pxe2live": ("Atomic", "Atomic", "tar-gz", False),
    "ami": ("CloudImages", "Cloud_Base", "raw-xz", False),
    "gce": ("CloudImages", "Cloud_Base", "tar-gz", False),
}

Docs = dict[str, list[dict[str, Any]]]


def dist_git_branch(release: Release) -> str:
    return "master" if release.state == "rawhide" else release.id


def release_doc(release: Release, key_id: str) -> dict[str, Any]:
    return {
        "release_id": release.pdc_id,
        "short": release.short,
        "version": release.version,
        "name": release.name,
        "base_product": None,
        "active": release.state != "eol",
        "product_version": f"{release.short}-{release.version}",
        "release_type": "ga",
        "integrated_with": None,
        "sigkey": key_id,
        "allow_buildroot_push": False,
        "allowed_debuginfo_services": [],
        "allowed_push_targets": [],
        "bugzilla": {"product": release.bugzilla_product},
        "dist_git": {"branch": dist_git_branch(release)},
    }


def component_doc(cid: int, release_id: str, name: str, bz_id: int) -> dict[str, Any]:
    """A release component; ``release`` holds the release id (the API shows it with its ``active``)."""
    return {
        "id": cid,
        "release": release_id,
        "bugzilla_component": {"id": bz_id, "name": name, "parent_component": None, "subcomponents": []},
        "brew_package": None,
        "global_component": name,
        "name": name,
        "dist_git_branch": None,  # None: inherited from the release's dist-git mapping
        "dist_git_web_url": None,
        "active": True,
        "type": "rpm",
        "srpm": {"name": name},
    }


class _Seeder:
    def __init__(self, world: World, built: BuiltWorld) -> None:
        self.world = world
        self.built = built
        self.tag_release = world.tag_release()
        self.docs: Docs = {}

    def builds_in(self, release: Release, roles: Iterable[str] | None = None) -> list[Build]:
        """World builds tagged into ``release`` (into tags of ``roles`` only, when given)."""
        tags = {t for role, t in release.tags.items() if roles is None or role in roles}
        return [b for b in self.world.builds() if tags.intersection(b.tags)]

    def rpms_of(self, build: Build) -> tuple[BuiltRPM, ...]:
        try:
            return self.built.rpms[build.nvr]
        except KeyError:
            raise KeyError(f"the built world has no RPMs for build {build.nvr}") from None

    def run(self) -> Docs:
        releases = list(self.world.releases.values())
        self.docs["releases"] = [release_doc(r, self.built.key_id) for r in releases]
        self.components(releases)
        self.groups()
        self.relationships(releases)
        self.rpms_and_composes(releases)
        return self.docs

    def components(self, releases: list[Release]) -> None:
        bz_ids = {name: i for i, name in enumerate(self.world.packages, start=1)}
        docs = []
        self.component_ids: dict[tuple[str, str], int] = {}
        for release in releases:
            in_release = {b.package for b in self.builds_in(release)}
            for name in self.world.packages:
                if name in in_release:
                    cid = len(docs) + 1
                    self.component_ids[(release.id, name)] = cid
                    docs.append(component_doc(cid, release.pdc_id, name, bz_ids[name]))
        self.docs["release-components"] = docs

    def groups(self) -> None:
        docs = []
        for art in self.world.artifacts:
            release = self.world.releases[art.release]
            members = [
                {"id": self.component_ids[(release.id, p)], "name": p}
                for p in art.packages
                if (release.id, p) in self.component_ids
            ]
            docs.append(
                {
                    "id": len(docs) + 1,
                    "group_type": art.group_type,
                    "description": art.name,
                    "release": release.pdc_id,
                    "components": members,
                }
            )
        self.docs["component-groups"] = docs

    def relationships(self, releases: list[Release]) -> None:
        docs: list[dict[str, Any]] = []
        for release in releases:
            stable = self.builds_in(release, STABLE_ROLES)
            provides: dict[str, set[str]] = {}
            requires: dict[str, set[str]] = {}
            for build in stable:
                for dep in build.provides:
                    provides.setdefault(dep.name, set()).add(build.package)
                requires.setdefault(build.package, set()).update(d.name for d in build.requires)
            members = sorted(
                {p for a in self.world.artifacts if a.release == release.id for p in a.packages},
                key=list(self.world.packages).index,
            )
            pairs: list[tuple[str, str]] = []
            for pkg in members:
                for path in sorted(d for d in requires.get(pkg, ()) if d.startswith("/")):
                    for target in sorted(provides.get(path, set()) - {pkg}):
                        if (pkg, target) not in pairs:
                            pairs.append((pkg, target))
            for source, target in pairs:
                docs.append(
                    {
                        "id": len(docs) + 1,
                        "type": RELATIONSHIP_TYPE,
                        "from_component": self.component_ref(release, source),
                        "to_component": self.component_ref(release, target),
                    }
                )
        self.docs["release-component-relationships"] = docs

    def component_ref(self, release: Release, name: str) -> dict[str, Any]:
        return {"id": self.component_ids[(release.id, name)], "name": name, "release": release.pdc_id}

    def rpms_and_composes(self, releases: list[Release]) -> None:
        rpm_rows: list[tuple[BuiltRPM, Release, Build]] = []
        composes: list[dict[str, Any]] = []
        images: list[dict[str, Any]] = []
        for release in releases:
            composed = self.builds_in(release, COMPOSE_ROLES)
            compose = self.compose_doc(release, [rpm for b in composed for rpm in self.rpms_of(b)])
            composes.append(compose)
            images.append({"compose_id": compose["compose_id"], "images": compose_images(self.world, release, compose)})
            composed_nvrs = {b.nvr for b in composed}
            for build in self.builds_in(release, STABLE_ROLES):
                for rpm in self.rpms_of(build):
                    rpm_rows.append((rpm, release, build))
                    if build.nvr in composed_nvrs:
                        compose.setdefault("_nvrs", set()).add(build.nvr)
        rpm_rows.sort(key=lambda row: (row[0].name, row[0].epoch or 0, row[0].version, row[0].release, row[0].arch))
        compose_of = {c["release"]: c for c in composes}
        docs = []
        for rpm, release, build in rpm_rows:
            compose = compose_of[release.pdc_id]
            linked = [compose["compose_id"]] if build.nvr in compose.get("_nvrs", ()) else []
            docs.append(rpm_doc(len(docs) + 1, rpm, build.package, release.pdc_id, linked))
        for compose in composes:
            compose.pop("_nvrs", None)
        self.docs["rpms"] = docs
        self.docs["composes"] = composes
        self.docs["compose-images"] = images

    def compose_doc(self, release: Release, rpms: list[BuiltRPM]) -> dict[str, Any]:
        stamp = max((r.buildtime for r in rpms), default=int(time.time()))
        day = time.strftime("%Y%m%d", time.gmtime(stamp))
        nightly = release.state == "rawhide"
        label = "Rawhide" if nightly else release.version
        compose_id = f"Fedora-{label}-{day}{'.n' if nightly else ''}.0"
        variants = {"Everything": dict.fromkeys(release.arches, "untested")}
        for art in self.world.artifacts:
            if art.release == release.id and art.kind in IMAGE_KINDS:
                variants.setdefault(IMAGE_KINDS[art.kind][0], {}).update(dict.fromkeys(art.arches, "untested"))
        sigkeys: list[str | None] = [self.built.key_id]
        if any(r.signed_relpath is None for r in rpms):
            sigkeys.append(None)
        return {
            "compose_id": compose_id,
            "compose_date": f"{day[:4]}-{day[4:6]}-{day[6:]}",
            "compose_type": "nightly" if nightly else "production",
            "compose_respin": 0,
            "release": release.pdc_id,
            "compose_label": None if nightly else "RC-1.0",
            "deleted": False,
            "sigkeys": sigkeys,
            "acceptance_testing": "untested",
            "linked_releases": [],
            "rtt_tested_architectures": variants,
            "_mtime": stamp,
            "_rpms": [
                {"name": r.name, "version": r.version, "release": r.release, "arch": r.arch, "srpm_name": _srpm(r)}
                for r in rpms
            ],
        }


def _srpm(rpm: BuiltRPM) -> str:
    """The source package name: the build's NVR minus its version and release."""
    return rpm.build.rsplit("-", 2)[0]


def rpm_doc(rid: int, rpm: BuiltRPM, srpm_name: str, release_id: str, composes: list[str]) -> dict[str, Any]:
    epoch = rpm.epoch or 0
    deps: dict[str, list[str]] = {key: [] for key in DEP_TYPES}
    deps["provides"] = list(rpm.provides)
    deps["requires"] = list(rpm.requires)
    srpm_nevra = None
    if rpm.arch != "src":
        srpm_version, srpm_release = rpm.build.rsplit("-", 2)[1:]
        srpm_nevra = f"{srpm_name}-{epoch}:{srpm_version}-{srpm_release}.src"
    return {
        "id": rid,
        "name": rpm.name,
        "version": rpm.version,
        "epoch": epoch,
        "release": rpm.release,
        "arch": rpm.arch,
        "srpm_name": srpm_name,
        "srpm_nevra": srpm_nevra,
        "filename": rpm.filename,
        "linked_releases": [release_id],
        "linked_composes": composes,
        "dependencies": deps,
        "built_for_release": release_id,
        "srpm_commit_hash": None,
        "srpm_commit_branch": None,
    }


def image_format(filename: str, image_type: str) -> str:
    """The productmd format of an image file, from its suffix; it must suit the image type."""
    formats = [f for f in SUPPORTED_IMAGE_FORMATS if filename.endswith("." + f)]
    if not formats:
        raise ValueError(f"{filename}: no productmd image format matches its suffix")
    fmt = max(formats, key=len)
    if fmt not in IMAGE_TYPE_FORMAT_MAPPING[image_type]:
        raise ValueError(f"{filename}: format {fmt!r} does not suit image type {image_type!r}")
    return fmt


def artifact_image(compose: dict[str, Any], release: Release, art: Artifact, arch: str, parent: Images) -> Image:
    assert art.image is not None
    variant, subvariant, image_type, bootable = IMAGE_KINDS[art.kind]
    filename = art.image.format(arch=arch)
    fmt = image_format(filename, image_type)
    path = f"{variant}/{arch}/{'iso' if fmt == 'iso' else 'images'}/{filename}"
    seed = f"{compose['compose_id']}:{path}".encode()
    image = Image(parent)
    image.path = path
    image.mtime = int(compose["_mtime"])
    image.size = 1024 * (100_000 + int(hashlib.sha256(seed).hexdigest()[:5], 16))
    image.volume_id = f"Fedora-{variant[0]}-{image_type}-{arch}-{release.version}"[:32] if fmt == "iso" else None
    image.type = image_type
    image.format = fmt
    image.arch = arch
    image.disc_number = 1
    image.disc_count = 1
    image.checksums = {"sha256": hashlib.sha256(seed).hexdigest()}
    image.implant_md5 = hashlib.md5(seed).hexdigest() if fmt == "iso" else None
    image.bootable = bootable
    image.subvariant = subvariant
    return image


def compose_images(world: World, release: Release, compose: dict[str, Any]) -> dict[str, Any]:
    """productmd images.json data (header + payload) for the release's non-ostree artifacts."""
    manifest = Images()
    manifest.compose.id = compose["compose_id"]
    manifest.compose.date = compose["compose_date"].replace("-", "")
    manifest.compose.type = compose["compose_type"]
    manifest.compose.respin = compose["compose_respin"]
    for art in world.artifacts:
        if art.release != release.id or art.kind not in IMAGE_KINDS:
            continue
        for arch in art.arches:
            manifest.add(IMAGE_KINDS[art.kind][0], arch, artifact_image(compose, release, art, arch, manifest))
    return manifest.serialize({})


def seed(world: World, built: BuiltWorld) -> Docs:
    """Every PDC record of the world, by resource name (list order = id order)."""
    return _Seeder(world, built).run()
