"""The services an Airflow task works with, assembled from hooks in one place, each built on first use.

A task gets an :class:`relengotron.eol_run.EOLServices` (or a signer) from here and nothing else: the
hooks (:mod:`relengotron.airflow.hooks`) turn Airflow Connections into clients, and every client stands
behind a :class:`Lazy` that builds it when the task first touches it. A task that only closes Bugzilla bugs
therefore never logs in to Koji nor opens a bus socket, and a service that is down fails only the tasks
that need it. Leaving :func:`eol_services` closes what was built (Koji logs out).

The OSTree tasks get the repositories (:func:`shared_repo`, the compose repository; :func:`staging_tree`, the
released one with the master mirror it is synced to) and signers (:func:`release_signer`, the summary's
:func:`summary_signer`) from here the same way.

Also here, for every operator: how a task tells Airflow whether a failure is worth a retry
(:func:`permanent_failures`), boolean arguments as templates render them (:func:`flag`), and the EOL DAG's
run-time overrides of the release configuration (:func:`eol_config`, :func:`ostree_archive_path`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from relengotron.artifacts.staging import StagingTree
    from relengotron.config import ReleaseConfig
    from relengotron.eol_run import EOLServices
    from relengotron.ostree.repo import OSTreeRepo
    from relengotron.signing.base import Signer
    from relengotron.tools.remote import SSHRunner

T = TypeVar("T")

# The archive repository carved-out refs are copied to, beside the shared repository, unless overridden.
OSTREE_ARCHIVE_NAME = "archive-repo"
_REMOTE = re.compile(r"^[A-Za-z0-9_.\-]+@?[A-Za-z0-9_.\-]*:/")


class Lazy(Generic[T]):
    """Stands in for the object ``build()`` returns, building it on first attribute access (once)."""

    def __init__(self, build: Callable[[], T], name: str) -> None:
        self._build = build
        self._name = name
        self._value: T | None = None

    def __repr__(self) -> str:
        return f"Lazy({self._name}, {'built' if self._value is not None else 'not built'})"

    @property
    def built(self) -> bool:
        return self._value is not None

    def get(self) -> T:
        if self._value is None:
            self._value = self._build()
        return self._value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.get(), name)


@dataclass(frozen=True)
class Connections:
    """The Airflow connection ids a task uses (the hooks' defaults unless a DAG says otherwise).

    ``mirror_ssh`` is an SSH provider connection to the mirror host, needed only when the release
    configuration's mirror trees are remote (``host:/path``).
    """

    koji: str = "koji_default"
    pdc: str = "pdc_default"
    bugzilla: str = "bugzilla_default"
    fedmsg: str = "fedmsg_default"
    signing: str = "signing_default"
    mirror_ssh: str | None = None


# --- errors ------------------------------------------------------------------------------------------------


@contextmanager
def permanent_failures() -> Iterator[None]:
    """Let transient failures (service unreachable, 5xx, Koji busy) through, so Airflow retries them with
    backoff; turn every other failure into ``AirflowFailException``, which fails the task at once.

    The classification is the library's (:func:`relengotron.adapters.errors.is_transient`); Airflow's own
    exceptions (skip, fail, defer) pass unchanged.
    """
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    from relengotron.adapters.errors import is_transient

    try:
        yield
    except AirflowException:
        raise
    except Exception as exc:
        if is_transient(exc):
            raise
        raise AirflowFailException(f"{exc} (permanent: not retried)") from exc


# --- run-time arguments -----------------------------------------------------------------------------------


def flag(value: Any, field: str) -> bool:
    """A boolean argument as a template renders it: a bool, or ``true``/``false`` in any case (non-native
    rendering gives ``"True"``); a ValueError names ``field`` otherwise."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"{field}: {value!r} is not true or false")


def seconds(value: Any, default: float, field: str) -> float:
    """A positive number of seconds as a template renders it (a number or its text; ``default`` when empty or
    None); a ValueError names ``field`` otherwise. Pure."""
    try:
        number = float(default if value is None or value == "" else value)
    except (TypeError, ValueError):
        raise ValueError(f"{field}: {value!r} is not a number of seconds") from None
    if not number > 0:
        raise ValueError(f"{field}: must be positive, not {number}")
    return number


# --- the release configuration, as a run overrides it ----------------------------------------------------


def check_location(value: str, field: str) -> str:
    """An absolute local path or ``host:/absolute/path``; a ValueError names ``field`` otherwise."""
    text = value.strip()
    if not text or not (text.startswith("/") or _REMOTE.match(text)):
        raise ValueError(f"{field}: {value!r} is neither an absolute path nor host:/absolute/path")
    return text


def eol_config(config: ReleaseConfig, archive: str | None) -> ReleaseConfig:
    """``config`` with the mirror's archive tree replaced by ``archive`` (when given). Pure.

    Where the release's trees move to and where the EOL marker is looked for: use one archive for every run
    of a release, or the second run does not find the first one's marker.
    """
    if not archive:
        return config
    mirror = dataclasses.replace(config.mirror, archive=check_location(archive, "archive"))
    return dataclasses.replace(config, mirror=mirror)


def ostree_archive_path(config: ReleaseConfig, override: str | None) -> Path:
    """The archive repository carved-out refs are copied to: ``override``, else ``archive-repo`` beside the
    shared repository (``<ostree.repo>/../archive-repo``), a local archive-mode repository like it. Pure."""
    if override:
        path = check_location(override, "ostree_archive")
        if not path.startswith("/"):
            raise ValueError(f"ostree_archive: {override!r} must be a local path (an ostree repository here)")
        return Path(path)
    return config.ostree.repo.parent / OSTREE_ARCHIVE_NAME


# --- signers and the EOL services -------------------------------------------------------------------------


def release_signer(
    config: ReleaseConfig, release_id: str, connections: Connections = Connections()
) -> Lazy[Signer] | None:
    """The signer of ``release_id``'s key (None when the release has no key), built on first use."""
    from relengotron.airflow.hooks import SigningHook

    key = config.release(release_id).signing_key
    if key is None:
        return None
    hook = SigningHook(connections.signing)
    return Lazy(lambda: hook.signer(key), f"signer {key}")


def summary_signer(config: ReleaseConfig, connections: Connections = Connections()) -> Lazy[Signer] | None:
    """The signer of the shared repository's summary (:func:`relengotron.ostree.maintenance.summary_release`)."""
    from relengotron.ostree.maintenance import summary_release

    release = summary_release(config)
    return release_signer(config, release.id, connections) if release is not None else None


def shared_repo(config: ReleaseConfig) -> OSTreeRepo:
    """The shared archive-mode repository of the release configuration (``ostree.repo``): where composes merge
    their candidates. Clients never pull it; they pull the staging tree's (:func:`staging_tree`)."""
    from relengotron.ostree.repo import OSTreeRepo

    return OSTreeRepo(config.ostree.repo)


@contextmanager
def released_repo(config: ReleaseConfig, *, write: bool) -> Iterator[OSTreeRepo]:
    """The released OSTree repository (the staging tree's: what the mirror carries to clients); held under the
    staging lock when ``write``, so that a write never races a promotion or a sync of the staging tree."""
    from relengotron.artifacts import staging_lock, staging_ostree_repo

    repo = staging_ostree_repo(config.mirror)
    if not write:
        yield repo
        return
    with staging_lock(config.mirror):
        yield repo


def mirror_runner(config: ReleaseConfig, conn_id: str | None, stack: ExitStack) -> SSHRunner | None:
    """The SSH runner to the mirror host over the SSH provider connection ``conn_id`` (closed with ``stack``);
    None when the master mirror is a local path. A remote mirror without a connection fails when used
    (:meth:`relengotron.sync.Mirror.from_location` names it)."""
    master = config.mirror.master
    if master.startswith("/") or ":" not in master or not conn_id:  # Mirror.from_location's reading
        return None
    from airflow.providers.ssh.hooks.ssh import SSHHook

    from relengotron.tools.remote import SSHRunner

    runner = SSHRunner.from_hook(SSHHook(ssh_conn_id=conn_id))
    stack.callback(runner.close)
    return runner


def staging_tree(
    config: ReleaseConfig, mirror_ssh: str | None, stack: ExitStack, bwlimit: int | None = None
) -> StagingTree:
    """The staging tree (what is released, and what clients pull once synced) and its master mirror."""
    from relengotron.artifacts.staging import StagingTree

    return StagingTree.from_layout(config.mirror, mirror_runner(config, mirror_ssh, stack), bwlimit)


def sync_staging(
    config: ReleaseConfig, roots: list[str], *, dry_run: bool, mirror_ssh: str | None, bwlimit: int | None = None
) -> dict[str, list[str]]:
    """Sync ``roots`` of the staging tree to the master mirror (see :meth:`StagingTree.sync`)."""
    with ExitStack() as stack:
        return staging_tree(config, mirror_ssh, stack, bwlimit).sync(roots, dry_run=dry_run)


@contextmanager
def eol_services(
    config: ReleaseConfig,
    release_id: str,
    *,
    ostree_archive: Path,
    connections: Connections = Connections(),
) -> Iterator[EOLServices]:
    """Everything an EOL of ``release_id`` reads and changes, from the hooks, each client built on first use
    and closed on the way out. ``config`` is the run's (see :func:`eol_config`)."""
    from relengotron.adapters.mirror import MirrorTrees
    from relengotron.airflow.hooks import BugzillaHook, FedmsgHook, KojiHook, PDCHook
    from relengotron.eol_run import EOLServices
    from relengotron.ostree.repo import OSTreeRepo

    koji = Lazy(lambda: KojiHook(connections.koji).client, "koji")
    pdc = Lazy(lambda: PDCHook(connections.pdc).client, "pdc")
    bugzilla = Lazy(lambda: BugzillaHook(connections.bugzilla).client, "bugzilla")
    publisher = Lazy(lambda: FedmsgHook(connections.fedmsg).publisher, "fedmsg")
    with ExitStack() as stack:
        for client in (publisher, bugzilla, pdc, koji):  # closed in reverse: Koji logs out first
            stack.callback(lambda c=client: c.get().close() if c.built else None)
        staging = staging_tree(config, connections.mirror_ssh, stack)
        ssh = staging.mirror.ssh
        yield EOLServices(
            koji=koji,  # type: ignore[arg-type]
            pdc=pdc,  # type: ignore[arg-type]
            bugzilla=bugzilla,  # type: ignore[arg-type]
            ostree=staging.ostree_repo,
            ostree_archive=OSTreeRepo(ostree_archive),
            staging=staging,
            mirror=MirrorTrees.from_layout(config.mirror, ssh),
            publisher=publisher,  # type: ignore[arg-type]
            signer=release_signer(config, release_id, connections),  # type: ignore[arg-type]
            static_deltas=config.ostree.static_deltas,
        )
