"""The release configuration: what release engineers configure today by hand, in one validated YAML file.

Releases and their state, Koji tags per role, signing keys per release (key ids only: secret material lives in
an Airflow connection), artifact definitions, the gating policy file, the OSTree repository and its retention
policy, and the staging/mirror layout. Endpoints and secrets are never here. Every error names the file, the
line and the key (:class:`relengotron.yamlfile.FileError`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import quote, urlsplit

from relengotron import yamlfile
from relengotron.imagerequest import ImageRequest, KickstartCheckError, check_kickstart_file, request_from_fields
from relengotron.names import ID, KEY_ID
from relengotron.yamlfile import Fields

RELEASE_STATES = ("active", "frozen", "rawhide", "eol")
# Koji tag roles, in the order a build travels through them.
TAG_ROLES = (
    "candidate",
    "signing_pending",
    "testing_pending",
    "testing",
    "stable_pending",
    "stable",
    "pending",
    "quarantine",
    "build",
)

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class KindRules(Protocol):
    """What the configuration asks of an artifact kind: which template key it needs and how it may be composed
    (local, koji or remote). The kinds are the classes registered in the ``relengotron.artifacts`` entry point
    group (:class:`relengotron.artifacts.ArtifactKind`); the configuration is handed them, it does not look
    them up (:func:`relengotron.artifacts.load_release_config` does)."""

    kind: str
    template_key: Literal["ref", "image"]
    compose_backends: tuple[str, ...]
    default_compose: str

    def template_error(self, template: str) -> str | None: ...

    def request_errors(self, request: ImageRequest) -> list[tuple[str | None, str]]:
        """What is wrong with an artifact's ``image_request`` for this kind: (key or None, message) pairs."""
        ...


# The registered kinds by name, asked for once per load; a LookupError names a broken registry.
KindsProvider = Callable[[], Mapping[str, KindRules]]


@dataclass(frozen=True)
class Release:
    id: str  # f24, rawhide
    name: str  # Fedora 24
    version: str  # 24, rawhide
    state: str
    dist: str  # fc24
    pdc_release: str  # fedora-24
    bugzilla_product: str
    bugzilla_version: str
    arches: tuple[str, ...]
    signing_key: str | None  # 8 hex digits (Koji sigkey); None: this release's builds are not signed by us
    tags: dict[str, str]  # role → Koji tag
    signing_chain: tuple[tuple[str, str], ...]  # (from tag, to tag) moves done after signing
    successor: str | None  # release id whose refs EOL clients are told to rebase to
    comps: Path | None = None  # the comps file (package groups) its repositories carry, as fedora-comps has it

    def tag(self, role: str) -> str:
        """The Koji tag for ``role``; a KeyError names the release and the role."""
        try:
            return self.tags[role]
        except KeyError:
            raise KeyError(f"release {self.id} has no {role} tag") from None


@dataclass(frozen=True)
class Artifact:
    name: str  # atomic-host
    kind: str
    release: str
    arches: tuple[str, ...]
    ref: str | None  # ostree ref template: {version} {arch} {stream}
    image: str | None  # image file name template: {version} {arch}
    tests: tuple[str, ...]  # ResultsDB test cases required before release
    compose: str  # local | koji | remote
    # An rpm-ostree treefile of the artifact's own (its other keys and the package names it must hold, as Fedora's
    # fedora-atomic-docker-host.json), relative to the configuration file; ostree artifacts only.
    treefile: Path | None = None
    # image kinds: the kickstart and the Koji method's options the image is requested with (None: none configured;
    # such an artifact cannot be composed). See relengotron.imagerequest.
    image_request: ImageRequest | None = None

    def ostree_ref(self, release: Release, arch: str, stream: str | None = None) -> str:
        """``fedora/24/x86_64/atomic-host``; with a stream ``fedora/24/x86_64/updates/atomic-host``."""
        if self.ref is None:
            raise ValueError(f"artifact {self.name} is not an ostree artifact")
        ref = self.ref.format(version=release.version, arch=arch)
        if stream:
            head, _, tail = ref.rpartition("/")
            ref = f"{head}/{stream}/{tail}"
        return ref

    def image_name(self, release: Release, arch: str) -> str:
        if self.image is None:
            raise ValueError(f"artifact {self.name} is not an image artifact")
        return self.image.format(version=release.version, arch=arch)

    def item(self, release: Release, arch: str) -> str:
        """The ResultsDB item naming this artifact's build for one arch: ``atomic-host-24-x86_64``."""
        return f"{self.name}-{release.version}-{arch}"


@dataclass(frozen=True)
class Retention:
    keep_days: int  # commits younger than this are kept
    keep_last: int  # and at least this many commits on each ref


@dataclass(frozen=True)
class OSTreeSettings:
    repo: Path  # the shared archive-mode repository
    retention: Retention
    static_deltas: bool


@dataclass(frozen=True)
class MirrorLayout:
    staging: Path  # where pushes are assembled
    master: str  # rsync destination: a local path or host:path
    archive: str  # where EOL content goes
    updates: str  # path templates below are relative to staging/master: {version} {arch} {stream}
    images: str
    ostree: str
    website: str
    # quick-fedora-mirror's name of the rsync module whose top is ``master`` (Fedora's fedora-enchilada, whose
    # directory is /pub/fedora: "fedora"): the downstream mirrors' file lists kept there are
    # ``fullfiletimelist-<module>`` and ``imagelist-<module>`` (relengotron.sync.filelist).
    module: str = "fedora"
    # The public http(s) URL of ``master``'s top, where users download from (Fedora's: dl.fedoraproject.org's
    # https://dl.fedoraproject.org/pub/fedora/, or any mirror's). The download website's commands (curl, ostree
    # remote add) name it; None: they say $MIRROR for the user's mirror. This project's proposal (Fedora's
    # websites hard-code it).
    url: str | None = None

    def public_url(self, path: str) -> str:
        """The URL a user downloads ``path`` (relative to the mirror top) from: under :attr:`url`, else
        ``$MIRROR/<path>``. Pure."""
        base = self.url.rstrip("/") if self.url else "$MIRROR"
        return f"{base}/{quote(path.lstrip('/'))}"


@dataclass(frozen=True)
class TranslatePaths:
    """Where local trees are served over HTTP: Pungi's ``translate_paths`` option (a list of (path prefix, URL
    prefix) pairs; Fedora's pungi-fedora configuration maps ``/mnt/koji/compose/`` to
    ``https://kojipkgs.fedoraproject.org/compose/``, where openQA and Taskotron fetched composes from). Test
    systems reach a candidate — the image in the staging tree's candidate area, the shared OSTree repository — by
    the URL this gives, never by a path on the workers' filesystem."""

    pairs: tuple[tuple[Path, str], ...] = ()

    def url(self, path: str | Path) -> str | None:
        """The URL of ``path`` by the first pair whose prefix holds it (Pungi's ``translate_path_raw``: first
        match, in the configured order); None when no pair covers it. Pure."""
        target = Path(os.path.normpath(Path(path).absolute()))
        for prefix, url in self.pairs:
            if target == prefix or prefix in target.parents:
                rel = target.relative_to(prefix).as_posix()
                return url.rstrip("/") + ("" if rel == "." else "/" + quote(rel))
        return None


@dataclass(frozen=True)
class Approvals:
    """Where a run waits for a release engineer's approval besides the ``eol`` DAG's (which always does):
    ``frozen_stable_pushes`` — a stable push of a release whose ``state`` is ``frozen`` waits before its sync to
    the master mirror (:func:`relengotron.approval.push_approval_reason`). This project's proposal; off by
    default."""

    frozen_stable_pushes: bool = False


@dataclass(frozen=True)
class ReleaseConfig:
    path: Path
    releases: dict[str, Release]
    artifacts: tuple[Artifact, ...]
    gating_policies: Path
    ostree: OSTreeSettings
    mirror: MirrorLayout
    translate_paths: TranslatePaths = TranslatePaths()
    approvals: Approvals = Approvals()

    def release(self, release_id: str) -> Release:
        try:
            return self.releases[release_id]
        except KeyError:
            known = ", ".join(sorted(self.releases))
            raise KeyError(f"unknown release {release_id!r} (configured: {known})") from None

    def artifacts_of(self, release_id: str) -> list[Artifact]:
        return [a for a in self.artifacts if a.release == release_id]

    def release_of_tag(self, tag: str) -> Release | None:
        for release in self.releases.values():
            if tag in release.tags.values():
                return release
        return None


_MODULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _module(f: Fields) -> str:
    """The mirror's rsync module name (a file name part: fullfiletimelist-<module>)."""
    value = f.text("module", "fedora")
    if not _MODULE.match(value):
        raise f.error("module", f"{value!r} is not an rsync module name (letters, digits, '.', '_', '-')")
    return value


def load_config(path: str | Path, kinds: KindsProvider) -> ReleaseConfig:
    """Load and validate a release configuration against the artifact ``kinds``; relative paths in it are
    relative to the file. Reads the file only."""
    path = Path(path)
    top = Fields(path, yamlfile.load(path), "")
    base = path.parent
    releases: dict[str, Release] = {}
    owners: dict[str, str] = {}
    rel_map = top.get("releases", dict)
    for rel_id in rel_map:
        rf = Fields(path, rel_map[rel_id], f"releases.{rel_id}", top.line_of("releases"))
        releases[rel_id] = _release(rf, rel_id, owners, base)
    if not releases:
        raise top.error("releases", "at least one release is needed")
    for rel_id in rel_map:
        successor = releases[rel_id].successor
        if successor is not None and successor not in releases:
            rf = Fields(path, rel_map[rel_id], f"releases.{rel_id}")
            raise rf.error("successor", f"unknown release {successor!r}")

    artifacts: list[Artifact] = []
    seen: set[tuple[str, str]] = set()
    for _, af in top.items("artifacts", []):
        for artifact in _artifacts(af, releases, kinds, base):
            if (artifact.release, artifact.name) in seen:
                raise af.error("name", f"artifact {artifact.name!r} is defined twice for release {artifact.release}")
            seen.add((artifact.release, artifact.name))
            artifacts.append(artifact)

    gf = top.mapping("gating")
    assert gf is not None
    policies = base / gf.text("policies")
    gf.done()

    of = top.mapping("ostree")
    assert of is not None
    rf = of.mapping("retention")
    assert rf is not None
    retention = Retention(keep_days=_positive(rf, "keep_days", 30), keep_last=_positive(rf, "keep_last", 3))
    rf.done()
    ostree = OSTreeSettings(
        repo=base / of.text("repo"), retention=retention, static_deltas=of.get("static_deltas", bool, True)
    )
    of.done()

    mf = top.mapping("mirror")
    assert mf is not None
    mirror = MirrorLayout(
        staging=base / mf.text("staging"),
        master=_location(base, mf.text("master")),
        archive=_location(base, mf.text("archive")),
        updates=_template(mf, "updates", {"version", "arch", "stream"}),
        images=_template(mf, "images", {"version", "arch", "kind"}),
        ostree=_template(mf, "ostree", set()),
        website=_template(mf, "website", set()),
        module=_module(mf),
        url=_public_url(mf),
    )
    mf.done()
    translate = _translate_paths(top, base)
    approvals = _approvals(top)
    top.done()
    return ReleaseConfig(
        path=path,
        releases=releases,
        artifacts=tuple(artifacts),
        gating_policies=policies,
        ostree=ostree,
        mirror=mirror,
        translate_paths=translate,
        approvals=approvals,
    )


def _approvals(top: Fields) -> Approvals:
    """``approvals: {frozen_stable_pushes: bool}`` (optional; every switch off by default)."""
    af = top.mapping("approvals", None)
    if af is None:
        return Approvals()
    approvals = Approvals(frozen_stable_pushes=af.get("frozen_stable_pushes", bool, False))
    af.done()
    return approvals


def _public_url(f: Fields) -> str | None:
    """``mirror.url``: an http(s) URL, or absent."""
    value = f.get("url", str, None)
    if value is None:
        return None
    url = urlsplit(value)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise f.error("url", f"{value!r} is not an http(s) URL")
    return value


def _translate_paths(top: Fields, base: Path) -> TranslatePaths:
    """``translate_paths: [[path, url], ...]`` (Pungi's format); paths relative to the file, URLs http(s)."""
    pairs = []
    for index, pair in enumerate(top.get("translate_paths", list, [])):
        if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(v, str) and v for v in pair):
            raise top.item_error("translate_paths", index, "must be a [path, url] pair")
        url = urlsplit(pair[1])
        if url.scheme not in ("http", "https") or not url.netloc:
            raise top.item_error("translate_paths", index, f"{pair[1]!r} is not an http(s) URL")
        pairs.append((Path(os.path.normpath(base / pair[0])), pair[1]))
    return TranslatePaths(tuple(pairs))


def _release(rf: Fields, rel_id: str, owners: dict[str, str], base: Path) -> Release:
    if not ID.match(rel_id):
        raise rf.error(None, f"bad release id {rel_id!r}")
    tf = rf.mapping("tags")
    assert tf is not None
    tags: dict[str, str] = {}
    for role in TAG_ROLES:
        tag = tf.text(role, None)
        if tag is None:
            continue
        if not ID.match(tag):
            raise tf.error(role, f"bad Koji tag name {tag!r}")
        if tag in owners:
            raise tf.error(role, f"tag {tag!r} is already a tag of release {owners[tag]}")
        owners[tag] = rel_id
        tags[role] = tag
    tf.done()
    if "build" not in tags:
        raise tf.error(None, "missing required key 'build'")

    key = rf.text("signing_key", None)
    if key is not None:
        key = key.lower()
        if not KEY_ID.match(key):
            raise rf.error("signing_key", f"must be an 8-digit hex key id (Koji sigkey), not {key!r}")
    chain: list[tuple[str, str]] = []
    for index, step in rf.items("signing_chain", []):
        source, target = step.text("from"), step.text("to")
        for name, tag in (("from", source), ("to", target)):
            if tag not in tags.values():
                raise step.error(name, f"{tag!r} is not one of release {rel_id}'s tags")
        chain.append((source, target))
        step.done()
        del index
    if chain and key is None:
        raise rf.error("signing_chain", "a signing chain needs a signing_key")

    comps = rf.text("comps", None)
    bz = rf.mapping("bugzilla", {})
    version = rf.text("version")
    release = Release(
        id=rel_id,
        name=rf.text("name"),
        version=version,
        state=rf.choice("state", RELEASE_STATES),
        dist=rf.text("dist"),
        pdc_release=rf.text("pdc_release", f"fedora-{version}"),
        bugzilla_product=bz.text("product", "Fedora") if bz else "Fedora",
        bugzilla_version=bz.text("version", version) if bz else version,
        arches=tuple(rf.strings("arches", ["x86_64"])),
        signing_key=key,
        tags=tags,
        signing_chain=tuple(chain),
        successor=rf.text("successor", None),
        comps=base / comps if comps else None,
    )
    if bz:
        bz.done()
    rf.done()
    return release


def _artifacts(af: Fields, releases: dict[str, Release], kinds: KindsProvider, base: Path) -> list[Artifact]:
    """One definition may cover several releases (``releases: [f23, f24]``)."""
    name = af.text("name")
    if not ID.match(name):
        raise af.error("name", f"bad artifact name {name!r}")
    kind_cls = _kind_rules(af, kinds)
    kind = kind_cls.kind
    rel_ids = af.strings("releases")
    for index, rel_id in enumerate(rel_ids):
        if rel_id not in releases:
            raise af.item_error("releases", index, f"unknown release {rel_id!r}")
    ref = af.text("ref", None)
    image = af.text("image", None)
    key = kind_cls.template_key
    other = "image" if key == "ref" else "ref"
    template = ref if key == "ref" else image
    if template is None:
        raise af.error(None, f"a {kind} artifact needs '{key}'")
    if (image if key == "ref" else ref) is not None:
        raise af.error(other, f"a {kind} artifact takes '{key}', not '{other}'")
    _check_placeholders(af, key, template, {"version", "arch"})
    problem = kind_cls.template_error(template)
    if problem:
        raise af.error(key, problem)
    tests = tuple(af.strings("tests", []))
    compose = af.choice("compose", kind_cls.compose_backends, kind_cls.default_compose)
    arches = af.strings("arches", None)
    treefile = af.text("treefile", None)
    if treefile is not None and key != "ref":
        raise af.error("treefile", f"a {kind} artifact has no treefile (only OSTree artifacts do)")
    request = _image_request(af, kind_cls, base)
    af.done()
    out = []
    for rel_id in rel_ids:
        release = releases[rel_id]
        if request is not None and request.path is not None:
            try:
                check_kickstart_file(request.path, request.version_for(release.version))
            except (KickstartCheckError, ValueError) as exc:
                raise af.error("image_request", f"artifact {name} of release {rel_id}: {exc}") from None
        out.append(
            Artifact(
                name=name,
                kind=kind,
                release=rel_id,
                arches=tuple(arches) if arches else release.arches,
                ref=ref,
                image=image,
                tests=tests,
                compose=compose,
                treefile=base / treefile if treefile else None,
                image_request=request,
            )
        )
    return out


def _image_request(af: Fields, kind_cls: KindRules, base: Path) -> ImageRequest | None:
    """The artifact's ``image_request``, checked by its kind (None when there is none)."""
    rf = af.mapping("image_request", None)
    if rf is None:
        return None
    if kind_cls.template_key != "image":
        raise af.error("image_request", f"a {kind_cls.kind} artifact takes no image_request (only image kinds do)")
    request = request_from_fields(rf, base)
    for key, message in kind_cls.request_errors(request):
        raise rf.error(key, message)
    return request


def _kind_rules(af: Fields, kinds: KindsProvider) -> KindRules:
    """The rules of the artifact's ``kind``; errors (an unknown kind, a broken registry) name the key."""
    kind = af.text("kind")
    try:
        registered = kinds()
    except LookupError as exc:
        raise af.error("kind", str(exc)) from None
    if kind not in registered:
        raise af.error("kind", f"must be one of {', '.join(registered)}, not {kind!r}")
    return registered[kind]


def _check_placeholders(f: Fields, key: str, value: str, allowed: set[str]) -> None:
    unknown = set(_PLACEHOLDER.findall(value)) - allowed
    if unknown:
        raise f.error(key, f"unknown placeholder {{{sorted(unknown)[0]}}} (allowed: {', '.join(sorted(allowed))})")


def _template(f: Fields, key: str, allowed: set[str]) -> str:
    value = f.text(key)
    _check_placeholders(f, key, value, allowed)
    return value


def _positive(f: Fields, key: str, default: int) -> int:
    value = f.get(key, int, default)
    if value < 1:
        raise f.error(key, f"must be at least 1, not {value}")
    return value


def _location(base: Path, value: str) -> str:
    """A local path (made absolute against the config's folder) or an rsync ``host:path`` left as written."""
    if re.match(r"^[A-Za-z0-9_.\-]+@?[A-Za-z0-9_.\-]*:", value) and not value.startswith("/"):
        return value
    return str(base / value)
