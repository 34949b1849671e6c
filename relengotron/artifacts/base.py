"""The artifact-kind interface: what every kind of release artifact (OSTree, ISO, pxe2live, AMI, GCE) knows.

One :class:`ArtifactKind` instance stands for one :class:`relengotron.planning.Target` (an artifact of one
release for one arch). It knows

- its manifest: the latest builds of its packages in a Koji tag (:meth:`ArtifactKind.manifest`), and the one
  last released, read back from what was published (:meth:`ArtifactKind.released`, no hidden state);
- how to compose it (:meth:`ArtifactKind.compose`): into the STAGING tree only — never the mirror, which
  only :mod:`relengotron.sync` writes — and idempotently: an output already staged for the same manifest is
  reused, and the :class:`ComposeOutput` says whether anything changed;
- what ResultsDB is asked about it (:meth:`ArtifactKind.test_item`, :meth:`ArtifactKind.test_cases`) and the
  ``relengotron.artifact.composed`` message that asks for the tests (:meth:`ArtifactKind.announcement`);
- what it signs (:meth:`ArtifactKind.sign`) and where its outputs lie in the staging/mirror tree
  (:meth:`ArtifactKind.mirror_paths`).

Kinds are found through the ``relengotron.artifacts`` entry point group (:mod:`.registry`). Errors name the
artifact: :class:`ArtifactError` (permanent), while Koji being unreachable stays a
:class:`relengotron.kojiclient.KojiTransientError` (worth a retry).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from relengotron.config import Artifact, MirrorLayout, OSTreeSettings, Release, ReleaseConfig
from relengotron.gating.policies import Subject
from relengotron.kojiclient import KojiClient
from relengotron.manifest import Manifest
from relengotron.ostree.compose import ComposeBackend
from relengotron.ostree.repo import OSTreeRepo
from relengotron.ostree.treefile import YumRepo
from relengotron.planning import Target
from relengotron.signing.base import Signer, SignResult
from relengotron.sync import Mirror, MirrorFS
from relengotron.tools.remote import SSHRunner

COMPOSED_TOPIC = "relengotron.artifact.composed"  # the announcement's topic (modname relengotron)


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

    ``ostree`` is the shared repository and its settings; ``layout.staging`` the staging tree every output
    goes to; ``workdir`` scratch space (payload RPMs, scratch repositories, downloads — cleaned up after
    each compose). ``signer``: when given, compose signs what it made (otherwise :meth:`ArtifactKind.sign`
    does it later). ``rpm_keys``: public keys every payload RPM of a local ostree compose must be signed
    with. ``remote``: the backend of ``compose: remote`` ostree artifacts (a
    :class:`relengotron.ostree.compose.RemoteBackend` over SSH) and ``yum_repos`` what the compose host
    installs from. ``image_tag``: the Koji tag image tasks install from — the tag the manifest was computed
    from (default: the release's build tag).
    """

    koji: KojiClient
    layout: MirrorLayout
    ostree: OSTreeSettings
    workdir: Path
    signer: Signer | None = None
    rpm_keys: tuple[Path, ...] = ()
    remote: ComposeBackend | None = None
    yum_repos: tuple[YumRepo, ...] = ()
    image_tag: str | None = None
    task_timeout: float = 3 * 3600.0  # seconds a Koji image task may take
    clock: Callable[[], datetime] = field(default=_utcnow)

    @property
    def staging(self) -> Path:
        return Path(self.layout.staging)

    @property
    def shared_repo(self) -> OSTreeRepo:
        return OSTreeRepo(self.ostree.repo)

    def now(self) -> datetime:
        return self.clock()


@dataclass(frozen=True)
class Published:
    """Where released artifacts are read back from (read-only): the shared OSTree repository and the master
    mirror (a local tree or a host reached over SSH, see :class:`relengotron.sync.MirrorFS`)."""

    layout: MirrorLayout
    ostree_repo: OSTreeRepo
    mirror: MirrorFS

    @classmethod
    def from_config(cls, config: ReleaseConfig, ssh: SSHRunner | None = None) -> Published:
        """The configuration's shared repository and master mirror (a remote master needs ``ssh``)."""
        mirror = Mirror.from_location(config.mirror.master, ssh).fs()
        return cls(config.mirror, OSTreeRepo(config.ostree.repo), mirror)


@dataclass(frozen=True)
class OSTreeOutput:
    repo: str  # the staging repository holding the commit (what the tests check and the sync carries)
    shared: str  # the shared repository (the same path when it is the staging repository)
    ref: str
    commit: str  # the ref's head after the compose
    previous: str | None  # the head before (None: a new ref)
    version: str | None
    steps: tuple[str, ...]  # what this compose wrote: "commit", "sign", "static-delta", "summary", "stage"


@dataclass(frozen=True)
class ImageOutput:
    path: str  # the image in the staging tree (absolute)
    sha256: str
    size: int
    checksum_file: str  # the CHECKSUM file beside it (absolute)
    manifest_file: str  # the manifest JSON beside it (absolute)
    koji_build: str | None  # NVR of the Koji image build it came from (None: reused from staging)
    koji_task: int | None


@dataclass(frozen=True)
class ComposeOutput:
    """What a compose produced for one target. ``changed``: the artifact's content in the staging tree changed
    (a new image, a new commit or a moved ref); False when what was staged for the manifest was reused —
    even if a missing signature, delta or summary was completed on the way."""

    target: str  # Target.id
    kind: str
    label: str
    manifest: Manifest
    changed: bool
    paths: tuple[str, ...]  # the outputs, relative to the staging/mirror top (mirror_paths)
    ostree: OSTreeOutput | None = None
    image: ImageOutput | None = None

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
    def mirror_paths(self, layout: MirrorLayout) -> list[str]:
        """Its outputs, relative to the staging/mirror top (a repository directory, or files)."""

    # --- tests ------------------------------------------------------------------------------------------

    def test_item(self) -> Subject:
        """The ResultsDB subject of its tests: type ``compose-artifact``, item ``<name>-<version>-<arch>``."""
        return Subject.artifact(self.artifact, self.release, self.arch)

    def test_cases(self) -> tuple[str, ...]:
        """The test cases that must pass before it is released (the configuration's ``tests``)."""
        return self.artifact.tests

    def announcement(self, output: ComposeOutput) -> dict[str, Any]:
        """The body of the ``relengotron.artifact.composed`` message asking for its tests."""
        self._check(output)
        return {
            "item": self.id,
            "kind": self.kind,
            "release": self.release.id,
            "arch": self.arch,
            "label": self.label,
            "input_hash": output.manifest.input_hash,
            **self._announce(output),
        }

    @abstractmethod
    def _announce(self, output: ComposeOutput) -> dict[str, Any]:
        """The kind's part of the announcement: ``{"ostree": {...}}`` or ``{"image": {...}}``."""

    def _check(self, output: ComposeOutput) -> None:
        if output.target != self.id or output.kind != self.kind:
            raise ValueError(f"{self.label}: the output of {output.kind} {output.target} is not this artifact's")
