"""The artifact-kind interface: what every kind of release artifact (OSTree, ISO, pxe2live, AMI, GCE) knows.

One :class:`ArtifactKind` instance stands for one :class:`relengotron.planning.Target` (an artifact of one
release for one arch). It knows

- its manifest: the latest builds of its packages in a Koji tag (:meth:`ArtifactKind.manifest`), and the one
  last released, read back from what was published (:meth:`ArtifactKind.released`, no hidden state);
- how to compose it (:meth:`ArtifactKind.compose`) into a CANDIDATE area that is never synced — the shared
  OSTree repository (outside the staging tree), or the staging tree's private ``.relengotron/candidates``
  directory for images (:func:`relengotron.sync.classify.classify` skips it) — idempotently: a candidate
  already made of the same manifest is reused;
- what ResultsDB is asked about it (:meth:`ArtifactKind.test_item`, :meth:`ArtifactKind.test_cases`) and the
  ``relengotron.artifact.composed`` message that asks for the tests (:meth:`ArtifactKind.announcement`);
- what it signs (:meth:`ArtifactKind.sign`);
- how a candidate that passed its tests and was signed is RELEASED (:meth:`ArtifactKind.promote`): moved into
  the public part of the staging tree, which is what the sync carries to the mirror — so an artifact whose
  tests failed is never released, never synced; and where its outputs lie there (:meth:`ArtifactKind.mirror_paths`).

Compose and release are separate steps so that nothing a client can see exists before the tests passed.
Release and sync of the staging tree exclude each other (:func:`staging_lock`), so a sync never carries a
release half-done.

Kinds are found through the ``relengotron.artifacts`` entry point group (:mod:`.registry`). Errors name the
artifact: :class:`ArtifactError` (permanent), while Koji being unreachable stays a
:class:`relengotron.kojiclient.KojiTransientError` (worth a retry).
"""

from __future__ import annotations

import fcntl
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from relengotron.config import Artifact, MirrorLayout, OSTreeSettings, Release, ReleaseConfig, TranslatePaths
from relengotron.gating.policies import Subject
from relengotron.imagerequest import ImageRequest
from relengotron.kojiclient import KojiClient
from relengotron.manifest import Manifest
from relengotron.ostree.compose import RemoteComposeBackend
from relengotron.ostree.repo import OSTreeRepo
from relengotron.planning import Target
from relengotron.signing.base import Signer, SignResult
from relengotron.sync import Mirror, MirrorFS
from relengotron.sync.classify import STAGING_PRIVATE
from relengotron.tools.remote import SSHRunner

COMPOSED_TOPIC = "relengotron.artifact.composed"  # the announcement's topic (modname relengotron)
CANDIDATES = f"{STAGING_PRIVATE}/candidates"  # image candidates, relative to the staging top (never synced)
STAGING_LOCK = f"{STAGING_PRIVATE}/staging.lock"


class ArtifactError(RuntimeError):
    """Composing, signing or reading back an artifact failed (permanently); ``label`` names the artifact."""

    def __init__(self, label: str, message: str) -> None:
        self.label = label
        self.reason = message
        super().__init__(f"{label}: {message}")


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ComposeContext:
    """What a compose needs besides the target and its manifest.

    ``ostree`` is the shared repository (where OSTree candidates are committed; never synced) and its
    settings; ``layout.staging`` the staging tree (image candidates go to its :attr:`candidates` area);
    ``workdir`` scratch space (payload RPMs, scratch repositories, downloads — cleaned up after
    each compose). ``signer``: when given, compose signs what it made (otherwise :meth:`ArtifactKind.sign`
    does it later). ``rpm_keys``: public keys every payload RPM of a local ostree compose must be signed
    with. ``remote``: the backend of ``compose: remote`` ostree artifacts (a
    :class:`relengotron.ostree.compose.RemoteBackend` over SSH). ``image_tag``: the Koji tag image tasks and
    remote composes install from (as a dist-repo of its signed copies) — the tag the manifest was computed
    from (default: the release's build tag).
    """

    koji: KojiClient
    layout: MirrorLayout
    ostree: OSTreeSettings
    workdir: Path
    signer: Signer | None = None
    rpm_keys: tuple[Path, ...] = ()
    remote: RemoteComposeBackend | None = None
    image_tag: str | None = None
    task_timeout: float = 3 * 3600.0  # seconds a Koji image task may take
    clock: Callable[[], datetime] = field(default=_utcnow)

    @property
    def staging(self) -> Path:
        return Path(self.layout.staging)

    @property
    def candidates(self) -> Path:
        """Where image candidates wait for their tests: ``<staging>/.relengotron/candidates`` (never synced)."""
        return self.staging / CANDIDATES

    @property
    def shared_repo(self) -> OSTreeRepo:
        return OSTreeRepo(self.ostree.repo)

    def now(self) -> datetime:
        return self.clock()


@dataclass(frozen=True)
class PromoteContext:
    """What a promotion needs: the staging tree (``layout``), the signer of the release's key (None: the
    release is not signed; the OSTree summary then goes unsigned) and whether to make static deltas."""

    layout: MirrorLayout
    signer: Signer | None = None
    static_deltas: bool = True

    @property
    def staging(self) -> Path:
        return Path(self.layout.staging)


def staging_ostree_repo(layout: MirrorLayout) -> OSTreeRepo:
    """The OSTree repository of the staging tree: what OSTree artifacts are released into and the sync carries."""
    return OSTreeRepo(Path(layout.staging) / layout.ostree.strip("/"))


@contextmanager
def staging_lock(layout: MirrorLayout) -> Iterator[None]:
    """Hold the staging tree's exclusive lock (``.relengotron/staging.lock``, an advisory flock).

    Promotions (:meth:`ArtifactKind.promote`) and syncs of the staging tree take it, so a sync never copies a
    promotion half-done (a new ref before its objects, an image before its CHECKSUM) and two promotions of
    different pushes do not interleave. Not re-entrant. Held only for the length of one promotion or sync.
    """
    path = Path(layout.staging) / STAGING_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Published:
    """Where released artifacts are read back from (read-only): the staging tree's OSTree repository (what
    OSTree artifacts are released into — never the shared repository, which holds untested candidates too)
    and the master mirror (a local tree or a host reached over SSH, see :class:`relengotron.sync.MirrorFS`)."""

    layout: MirrorLayout
    ostree_repo: OSTreeRepo
    mirror: MirrorFS

    @classmethod
    def from_config(cls, config: ReleaseConfig, ssh: SSHRunner | None = None) -> Published:
        """The configuration's staging OSTree repository and master mirror (a remote master needs ``ssh``)."""
        mirror = Mirror.from_location(config.mirror.master, ssh).fs()
        return cls(config.mirror, staging_ostree_repo(config.mirror), mirror)


@dataclass(frozen=True)
class OSTreeOutput:
    repo: str  # the shared repository holding the candidate commit (what the tests check; never synced)
    staging: str  # the staging repository the promotion moves the ref in (what the sync carries)
    ref: str
    commit: str  # the candidate: the ref's head in the shared repository after the compose
    previous: str | None  # the ref's RELEASED head (staging) when composed — what the promotion swaps from
    version: str | None
    steps: tuple[str, ...]  # what this compose wrote in the shared repository: "commit", "sign", "summary", ...


@dataclass(frozen=True)
class ImageOutput:
    path: str  # the image (absolute): the candidate, or the released copy when ``released``
    sha256: str
    size: int
    checksum_file: str  # the CHECKSUM file beside it (absolute)
    manifest_file: str  # the manifest JSON beside it (absolute)
    koji_build: str | None  # NVR of the Koji image build it came from (None: reused)
    koji_task: int | None
    released: bool = False  # the public copy in the staging tree already is this manifest's image


@dataclass(frozen=True)
class ComposeOutput:
    """What a compose produced for one target: a candidate. ``changed``: the candidate is not what is released
    (a new commit or image awaits its tests and promotion); False when the released artifact already is this
    manifest's — then promotion has nothing to do."""

    target: str  # Target.id
    kind: str
    label: str
    manifest: Manifest
    changed: bool
    paths: tuple[str, ...]  # the outputs, relative to the staging/mirror top (mirror_paths)
    ostree: OSTreeOutput | None = None
    image: ImageOutput | None = None
    composed_at: str | None = None  # ISO 8601 UTC: test results older than this are not about this compose

    @property
    def identity(self) -> str:
        """What tells this candidate from another: the OSTree commit, or the image's sha256."""
        if self.ostree is not None:
            return self.ostree.commit
        return self.image.sha256 if self.image is not None else "?"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (an XCom between the compose, test, sign and sync tasks); :meth:`from_dict` reads it."""
        data = asdict(self)
        data["manifest"] = list(self.manifest.nvrs)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ComposeOutput:
        ostree, image = data.get("ostree"), data.get("image")
        return cls(
            target=data["target"],
            kind=data["kind"],
            label=data["label"],
            manifest=Manifest.of(data["manifest"], item=data["label"]),
            changed=bool(data["changed"]),
            paths=tuple(data["paths"]),
            ostree=OSTreeOutput(**{**ostree, "steps": tuple(ostree["steps"])}) if ostree else None,
            image=ImageOutput(**image) if image else None,
            composed_at=data.get("composed_at"),
        )


class ArtifactKind(ABC):
    """One artifact of one release for one arch (a :class:`Target`), as its kind handles it.

    Class attributes say what the release configuration must give: ``template_key`` ("ref" for an OSTree
    ref template, "image" for an image file name template), the ``compose`` backends the kind supports and
    the default one. Subclasses are registered under their ``kind`` in the ``relengotron.artifacts`` entry
    point group.
    """

    kind: ClassVar[str]
    template_key: ClassVar[Literal["ref", "image"]]
    compose_backends: ClassVar[tuple[str, ...]]
    default_compose: ClassVar[str]
    # True when composing waits for a Koji task: the kind then composes in three steps — ``prepare`` (None: a
    # task is needed), ``submit`` (the task's id) and ``finish`` (the candidate, once the task closed) — and the
    # compose task waits for the Koji task deferred, holding no worker slot (ImageArtifact). False: ``compose``.
    koji_task_compose: ClassVar[bool] = False

    def __init__(self, target: Target) -> None:
        if target.artifact.kind != self.kind:
            raise ValueError(f"{target.label}: a {target.artifact.kind} artifact, not {self.kind}")
        if target.artifact.compose not in self.compose_backends:
            raise ValueError(f"{target.label}: a {self.kind} artifact cannot be composed {target.artifact.compose!r}")
        self.target = target

    @classmethod
    def template_error(cls, template: str) -> str | None:
        """What is wrong with the configured ref/image template for this kind (None: nothing). Pure."""
        del template
        return None

    @classmethod
    def request_errors(cls, request: ImageRequest) -> list[tuple[str | None, str]]:
        """What is wrong with an artifact's ``image_request`` for this kind, as (key or None, message) pairs.
        Kinds not built by a Koji image task take none. Pure."""
        return [(None, f"a {cls.kind} artifact takes no image_request (only image kinds are built from one)")]

    # --- who it is ----------------------------------------------------------------------------------------

    @property
    def artifact(self) -> Artifact:
        return self.target.artifact

    @property
    def release(self) -> Release:
        return self.target.release

    @property
    def arch(self) -> str:
        return self.target.arch

    @property
    def id(self) -> str:
        return self.target.id

    @property
    def label(self) -> str:
        return self.target.label

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"

    # --- manifests ----------------------------------------------------------------------------------------

    def manifest(self, koji: KojiClient, packages: Iterable[str], tag: str) -> Manifest:
        """The latest build of each of ``packages`` (the artifact's PDC component group) in Koji ``tag``,
        with inheritance. Read-only. A package with no build there is an :class:`ArtifactError` naming them."""
        names = sorted(set(packages))
        if not names:
            raise ArtifactError(self.label, "its package list is empty")
        latest = {build.name: build.nvr for build in koji.latest_tagged(tag, inherit=True)}
        missing = [name for name in names if name not in latest]
        if missing:
            raise ArtifactError(self.label, f"no build of {', '.join(missing)} in Koji tag {tag} (with inheritance)")
        return Manifest.of((latest[name] for name in names), item=self.label)

    def signed_repository(self, ctx: ComposeContext, tag: str) -> str:
        """Have Koji write a yum repository of ``tag``'s latest builds in their copies signed with the release's key
        only (``koji dist-repo <tag> <key>``: a build without such a copy fails Koji's task) for this arch, and
        return its URL (one subdirectory per arch): what images and remote composes install from, never Koji's
        unsigned build repositories. A release without a signing key is refused. Not idempotent: each call is a
        new dist-repo in Koji."""
        key = self.release.signing_key
        if key is None:
            raise ArtifactError(
                self.label, f"release {self.release.id} has no signing key: an artifact installs only signed packages"
            )
        return ctx.koji.dist_repo(
            tag, [key], arches=[self.arch], item=f"{self.label}: signed repository of {tag}", timeout=ctx.task_timeout
        )

    @abstractmethod
    def released(self, published: Published) -> Manifest | None:
        """The manifest last released, read back from what was published; None if never released."""

    # --- composing and signing ----------------------------------------------------------------------------

    @abstractmethod
    def compose(self, ctx: ComposeContext, manifest: Manifest) -> ComposeOutput:
        """Make the artifact from exactly ``manifest`` into the staging tree (never the mirror).

        Idempotent: an output already staged for ``manifest`` is reused (``changed`` False). A failure raises
        an :class:`ArtifactError` naming the artifact and leaves the staging tree as it was for it.
        """

    @abstractmethod
    def sign(self, signer: Signer, output: ComposeOutput) -> list[SignResult]:
        """Sign what the kind publishes signed. Idempotent: what is signed by ``signer``'s key is left alone."""

    @abstractmethod
    def promote(self, ctx: PromoteContext, output: ComposeOutput) -> PromoteResult:
        """Make the tested (and, with ``ctx.signer``, signed) candidate the released artifact in the staging
        tree — the only step that makes an artifact visible to the sync. Call it only once its tests passed.

        Idempotent: releasing what is already released changes nothing (``changed`` False); a rerun after a
        crash half-way finishes it. Refused (:class:`ArtifactError`) when the candidate is gone or changed,
        is not signed by ``ctx.signer``, or the released artifact moved since the compose (another push).
        """

    @abstractmethod
    def mirror_paths(self, layout: MirrorLayout) -> list[str]:
        """Its outputs, relative to the staging/mirror top (a repository directory, or files)."""

    # --- tests ------------------------------------------------------------------------------------------

    def test_item(self) -> Subject:
        """The ResultsDB subject of its tests: type ``compose-artifact``, item ``<name>-<version>-<arch>``."""
        return Subject.artifact(self.artifact, self.release, self.arch)

    def test_cases(self) -> tuple[str, ...]:
        """The test cases that must pass before it is released (the configuration's ``tests``)."""
        return self.artifact.tests

    def announcement(self, output: ComposeOutput, served: TranslatePaths) -> dict[str, Any]:
        """The body of the ``relengotron.artifact.composed`` message asking for its tests (docs/artifact-kinds.md
        says what each field is). The candidate is named by URL — ``served`` is the release configuration's
        ``translate_paths`` — since test systems fetch it over HTTP, never from the workers' filesystem; a
        candidate no pair covers is an :class:`ArtifactError`. Pure."""
        self._check(output)
        return {
            "item": self.id,
            "kind": self.kind,
            "release": self.release.id,
            "arch": self.arch,
            "label": self.label,
            "input_hash": output.manifest.input_hash,
            **self._announce(output, served),
        }

    @abstractmethod
    def _announce(self, output: ComposeOutput, served: TranslatePaths) -> dict[str, Any]:
        """The kind's part of the announcement: ``{"ostree": {...}}`` or ``{"image": {...}}``."""

    def _served_url(self, served: TranslatePaths, path: str | Path, what: str) -> str:
        """The URL test systems fetch ``path`` (the candidate's ``what``) from; ArtifactError when it is not served."""
        url = served.url(path)
        if url is None:
            raise ArtifactError(
                self.label,
                f"its {what} {path} is not served over HTTP: no translate_paths pair of the release configuration "
                "covers it (test systems fetch candidates by URL)",
            )
        return url

    def _check(self, output: ComposeOutput) -> None:
        if output.target != self.id or output.kind != self.kind:
            raise ValueError(f"{self.label}: the output of {output.kind} {output.target} is not this artifact's")


@dataclass(frozen=True)
class PromoteResult:
    """What a promotion did for one target. ``changed``: something was moved into the public staging tree.
    ``identity``: what was released — the OSTree commit, or the image's SHA256."""

    target: str
    kind: str
    label: str
    manifest: Manifest
    identity: str
    changed: bool
    steps: tuple[str, ...]  # "ref", "static-delta", "sign", "summary" / "image", "manifest", "checksum"
    paths: tuple[str, ...]  # the released outputs, relative to the staging/mirror top

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the XCom the sync and the messages read); :meth:`from_dict` reads it."""
        data = asdict(self)
        data["manifest"] = list(self.manifest.nvrs)
        data["input_hash"] = self.manifest.input_hash
        data["steps"], data["paths"] = list(self.steps), list(self.paths)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PromoteResult:
        return cls(
            target=data["target"],
            kind=data["kind"],
            label=data["label"],
            manifest=Manifest.of(data["manifest"], item=data["label"]),
            identity=data["identity"],
            changed=bool(data["changed"]),
            steps=tuple(data["steps"]),
            paths=tuple(data["paths"]),
        )
