"""The sandbox world: what Fedora's services hold when the sandbox starts.

A world file (YAML) names releases with their Koji tags, packages with their builds, artifacts with the
packages they contain, Bugzilla bugs, and its scenario: the outcomes of tests the sandbox does not run (stand-ins).
Loading validates everything before anything is built; each error names the file, the line and the item.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from relengotron import yamlfile
from relengotron.config import TAG_ROLES as CONFIG_TAG_ROLES
from relengotron.yamlfile import Fields
from relengotron_sandbox.rpmdeps import Dep, DependencyError, parse_dep
from relengotron_sandbox.worldupdates import WorldUpdate, parse_updates

DEFAULT_WORLD = Path(__file__).with_name("worlds") / "fedora.yaml"

RELEASE_STATES = ("active", "rawhide", "eol")
# The release configuration's tag roles; the build tag first (Koji seeds tags in this order).
TAG_ROLES = ("build", *(role for role in CONFIG_TAG_ROLES if role != "build"))
ARTIFACT_KINDS = ("ostree", "installer-iso", "pxe2live", "ami", "gce")
BUILD_ARCHES = ("noarch", "x86_64")  # what the sandbox builds: noarch, or x86_64 with debug subpackages
# PDC component-group type per artifact kind (the group that lists which packages an artifact contains).
GROUP_TYPES = {
    "ostree": "atomic-host",
    "installer-iso": "installer-iso",
    "pxe2live": "pxe2live",
    "ami": "ami",
    "gce": "gce",
}
OUTCOMES = ("PASSED", "FAILED", "INFO", "NEEDS_INSPECTION")
BUG_STATUSES = ("NEW", "ASSIGNED", "POST", "MODIFIED", "ON_QA", "VERIFIED", "CLOSED")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+\-]*$")
_VERSION = re.compile(r"^[A-Za-z0-9._+~^]+$")


@dataclass(frozen=True)
class Release:
    id: str  # e.g. "f24"; Koji-side short name
    name: str  # "Fedora 24"
    short: str  # PDC short name, "fedora"
    version: str  # "24" or "rawhide"
    state: str  # active | rawhide | eol
    dist: str  # "fc24"
    bugzilla_product: str
    bugzilla_version: str
    arches: tuple[str, ...]
    tags: dict[str, str]  # role → Koji tag name

    @property
    def pdc_id(self) -> str:
        """PDC's release_id, e.g. ``fedora-24``."""
        return f"{self.short}-{self.version}"


@dataclass(frozen=True)
class Build:
    package: str
    version: str
    release: str
    tags: tuple[str, ...]
    requires: tuple[Dep, ...]
    provides: tuple[Dep, ...]
    signed: bool
    owner: str
    summary: str
    arch: str = "noarch"  # x86_64: an arch build, with -debuginfo and -debugsource subpackages as rpm makes them
    kernel_image: bool = False  # installs /boot/vmlinuz-<kver> and /boot/initramfs-<kver>.img (worldbuild)

    @property
    def nvr(self) -> str:
        return f"{self.package}-{self.version}-{self.release}"

    @property
    def kver(self) -> str:
        """The kernel release a kernel build installs: kernel.spec's ``KVERREL``, ``<version>-<release>.<arch>``
        (``uname -r``; lorax's findkernels wants the arch at its end)."""
        return f"{self.version}-{self.release}.{self.arch}"

    @property
    def rpm_names(self) -> tuple[str, ...]:
        """The binary packages it makes: the package, and for an arch build its debuginfo and debugsource."""
        if self.arch == "noarch":
            return (self.package,)
        return (self.package, f"{self.package}-debuginfo", f"{self.package}-debugsource")


@dataclass(frozen=True)
class Package:
    name: str
    summary: str
    owner: str
    builds: tuple[Build, ...]


@dataclass(frozen=True)
class Artifact:
    name: str  # e.g. "atomic-host"
    kind: str  # one of ARTIFACT_KINDS
    release: str  # Release.id
    arches: tuple[str, ...]
    packages: tuple[str, ...]  # package (component) names
    ref: str | None  # ostree ref template with {arch}, ostree kind only
    image: str | None  # image file name template, image kinds only

    @property
    def group_type(self) -> str:
        return GROUP_TYPES[self.kind]


@dataclass(frozen=True)
class Bug:
    id: int
    product: str
    version: str
    component: str
    status: str
    summary: str
    resolution: str = ""


@dataclass(frozen=True)
class StandIn:
    """A scenario knob: the outcome posted for a test the sandbox does not run (an openQA install, a cloud boot
    test) when ``item`` is announced, and why (the result's note says it was forced and repeats ``reason``)."""

    item: str
    testcase: str
    outcome: str
    reason: str


@dataclass(frozen=True)
class BrokenImage:
    """A scenario knob: the sandbox Koji builds the image ``name``-``version`` for ``arch`` broken — ``drop`` is
    removed from its root after the install, while the task's rpmlist still reports the install (an image tool
    that lost a package after Koji recorded the transaction). The real content check must find it."""

    name: str  # the image build's name, as the release configuration's file name template makes it
    version: str
    arch: str
    drop: str  # the package (name) the image loses
    reason: str


@dataclass(frozen=True)
class World:
    path: Path
    digest: str  # sha256 of the file's bytes: identifies a built world
    key_name: str
    key_email: str
    releases: dict[str, Release]
    packages: dict[str, Package]
    artifacts: tuple[Artifact, ...]
    bugs: tuple[Bug, ...]
    stand_ins: tuple[StandIn, ...]  # the world's scenario.stand_ins
    broken_images: tuple[BrokenImage, ...] = ()  # the world's scenario.broken_images
    users: tuple[str, ...] = field(default=())
    updates: tuple[WorldUpdate, ...] = field(default=())  # Bodhi's updates (relengotron_sandbox.worldupdates)
    release_config: Path | None = None  # template of the release configuration releng keeps for this world

    def builds(self) -> list[Build]:
        return [b for p in self.packages.values() for b in p.builds]

    def tag_release(self) -> dict[str, Release]:
        """Koji tag name → the release it belongs to."""
        return {tag: rel for rel in self.releases.values() for tag in rel.tags.values()}

    def build(self, nvr: str) -> Build:
        for build in self.builds():
            if build.nvr == nvr:
                return build
        raise KeyError(nvr)


def load_world(path: str | Path = DEFAULT_WORLD) -> World:
    """Load and validate a world file; raise :class:`FileError` naming the file, line and item."""
    path = Path(path)
    data = yamlfile.load(path)
    top = Fields(path, data, "")
    release_config = top.text("release_config", None)
    if release_config is not None and not (path.parent / release_config).is_file():
        raise top.error("release_config", f"no such file {release_config!r} beside the world file")
    key = top.mapping("signing_key")
    assert key is not None
    key_name, key_email = key.text("name"), key.text("email")
    key.done()

    releases: dict[str, Release] = {}
    tag_owner: dict[str, str] = {}
    rel_map = top.get("releases", dict)
    for rel_id in rel_map:
        rf = Fields(path, rel_map[rel_id], f"releases.{rel_id}", top.line_of("releases"))
        releases[rel_id] = _release(rf, rel_id, tag_owner)
    if not releases:
        raise top.error("releases", "at least one release is needed")
    users: set[str] = set()

    packages: dict[str, Package] = {}
    seen_nvrs: dict[str, str] = {}
    for _, pf in top.items("packages"):
        pkg = _package(pf, tag_owner, seen_nvrs, packages)
        packages[pkg.name] = pkg
        users.add(pkg.owner)
    if not packages:
        raise top.error("packages", "at least one package is needed")

    artifacts: list[Artifact] = []
    seen_artifacts: set[tuple[str, str]] = set()
    for _, af in top.items("artifacts", []):
        art = _artifact(af, releases, packages)
        if (art.release, art.name) in seen_artifacts:
            raise af.error("name", f"duplicate artifact {art.name!r} for release {art.release}")
        seen_artifacts.add((art.release, art.name))
        artifacts.append(art)

    bugs: list[Bug] = []
    bug_ids: set[int] = set()
    for _, bf in top.items("bugs", []):
        bug = Bug(
            id=bf.get("id", int),
            product=bf.text("product"),
            version=bf.text("version"),
            component=bf.text("component"),
            status=bf.choice("status", BUG_STATUSES, "NEW"),
            summary=bf.text("summary"),
            resolution=bf.get("resolution", str, ""),
        )
        bf.done()
        if bug.id in bug_ids:
            raise bf.error("id", f"duplicate bug id {bug.id}")
        if bug.component not in packages:
            raise bf.error("component", f"unknown package {bug.component!r}")
        bug_ids.add(bug.id)
        bugs.append(bug)

    stand_ins: list[StandIn] = []
    broken_images: list[BrokenImage] = []
    scenario = top.mapping("scenario", None)
    if scenario:
        for _, ff in scenario.items("stand_ins", []):
            outcome = ff.choice("outcome", OUTCOMES)
            stand_ins.append(StandIn(ff.text("item"), ff.text("testcase"), outcome, ff.text("reason")))
            ff.done()
        for _, ff in scenario.items("broken_images", []):
            broken = BrokenImage(
                ff.text("name"), ff.text("version"), ff.text("arch"), ff.text("drop"), ff.text("reason")
            )
            if broken.drop not in packages:
                raise ff.error("drop", f"unknown package {broken.drop!r}")
            broken_images.append(broken)
            ff.done()
        scenario.done()
    all_builds = [b for p in packages.values() for b in p.builds]
    updates = parse_updates(
        top,
        {rel.id: rel.tags for rel in releases.values()},
        {b.nvr: tag_owner[b.tags[0]] for b in all_builds if b.tags},
        {b.nvr: b.owner for b in all_builds},
        bug_ids,
    )
    top.done()
    return World(
        path=path,
        digest=hashlib.sha256(path.read_bytes()).hexdigest(),
        key_name=key_name,
        key_email=key_email,
        releases=releases,
        packages=packages,
        artifacts=tuple(artifacts),
        bugs=tuple(bugs),
        stand_ins=tuple(stand_ins),
        broken_images=tuple(broken_images),
        users=tuple(sorted(users)),
        updates=updates,
        release_config=path.parent / release_config if release_config else None,
    )


def _release(rf: Fields, rel_id: str, tag_owner: dict[str, str]) -> Release:
    if not _NAME.match(rel_id):
        raise rf.error(None, f"bad release id {rel_id!r}")
    tf = rf.mapping("tags")
    assert tf is not None
    tags: dict[str, str] = {}
    for role in TAG_ROLES:
        name = tf.text(role, None)
        if name is None:
            continue
        if not _NAME.match(name):
            raise tf.error(role, f"bad tag name {name!r}")
        if name in tag_owner:
            raise tf.error(role, f"tag {name!r} already belongs to release {tag_owner[name]}")
        tag_owner[name] = rel_id
        tags[role] = name
    tf.done()
    if "build" not in tags:
        raise tf.error(None, "missing required key 'build'")
    version = rf.text("version")
    release = Release(
        id=rel_id,
        name=rf.text("name"),
        short=rf.text("short", "fedora"),
        version=version,
        state=rf.choice("state", RELEASE_STATES),
        dist=rf.text("dist"),
        bugzilla_product=rf.text("bugzilla_product", "Fedora"),
        bugzilla_version=rf.text("bugzilla_version", version),
        arches=tuple(rf.strings("arches", ["x86_64"])),
        tags=tags,
    )
    rf.done()
    return release


def _deps(f: Fields, key: str, default: list[str]) -> tuple[Dep, ...]:
    out = []
    for index, text in enumerate(f.strings(key, default)):
        try:
            out.append(parse_dep(text))
        except DependencyError as exc:
            raise f.item_error(key, index, str(exc)) from None
    return tuple(out)


def _package(pf: Fields, tag_owner: dict[str, str], seen_nvrs: dict[str, str], packages: dict[str, Package]) -> Package:
    name = pf.text("name")
    if not _NAME.match(name):
        raise pf.error("name", f"bad package name {name!r}")
    if name in packages:
        raise pf.error("name", f"duplicate package {name!r}")
    summary = pf.text("summary")
    owner = pf.text("owner")
    requires = _deps(pf, "requires", [])
    provides = _deps(pf, "provides", [])
    arch = pf.text("arch", "noarch")
    if arch not in BUILD_ARCHES:
        raise pf.error("arch", f"must be one of {', '.join(BUILD_ARCHES)}, not {arch!r}")
    kernel_image = pf.get("kernel_image", bool, False)
    if kernel_image and arch == "noarch":
        raise pf.error("kernel_image", "a package that installs a kernel image is an arch build (say arch: x86_64)")
    builds: list[Build] = []
    for _, bf in pf.items("builds"):
        version = bf.text("version")
        release = bf.text("release")
        for key, value in (("version", version), ("release", release)):
            if not _VERSION.match(value) or "-" in value:
                raise bf.error(key, f"bad {key} {value!r} (no dashes or spaces)")
        tags = tuple(bf.strings("tags"))
        for index, tag in enumerate(tags):
            if tag not in tag_owner:
                raise bf.item_error("tags", index, f"unknown tag {tag!r}")
        owners = {tag_owner[t] for t in tags}
        if len(owners) > 1:
            raise bf.error("tags", f"tags of one build must belong to one release, not {sorted(owners)}")
        build = Build(
            package=name,
            version=version,
            release=release,
            tags=tags,
            requires=_deps(bf, "requires", [str(d) for d in requires]),
            provides=_deps(bf, "provides", [str(d) for d in provides]),
            signed=bf.get("signed", bool, True),
            owner=owner,
            summary=summary,
            arch=arch,
            kernel_image=kernel_image,
        )
        bf.done()
        if build.nvr in seen_nvrs:
            raise bf.error(None, f"duplicate build {build.nvr}")
        seen_nvrs[build.nvr] = name
        builds.append(build)
    if not builds:
        raise pf.error("builds", f"package {name!r} has no builds")
    pf.done()
    return Package(name=name, summary=summary, owner=owner, builds=tuple(builds))


def _artifact(af: Fields, releases: dict[str, Release], packages: dict[str, Package]) -> Artifact:
    name = af.text("name")
    if not _NAME.match(name):
        raise af.error("name", f"bad artifact name {name!r}")
    kind = af.choice("kind", ARTIFACT_KINDS)
    release = af.text("release")
    if release not in releases:
        raise af.error("release", f"unknown release {release!r}")
    arches = tuple(af.strings("arches", list(releases[release].arches)))
    pkgs = tuple(af.strings("packages"))
    for index, pkg in enumerate(pkgs):
        if pkg not in packages:
            raise af.item_error("packages", index, f"unknown package {pkg!r}")
    ref = af.text("ref", None)
    image = af.text("image", None)
    if kind == "ostree" and not ref:
        raise af.error(None, "an ostree artifact needs 'ref'")
    if kind != "ostree" and not image:
        raise af.error(None, f"a {kind} artifact needs 'image'")
    af.done()
    return Artifact(name=name, kind=kind, release=release, arches=arches, packages=pkgs, ref=ref, image=image)
