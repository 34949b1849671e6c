"""Which Airflow Connections a task uses, and what is built from them on first use: the service clients, the
release's signer, SSH runners to the compose and mirror hosts, the staging tree.

A task names its connections (:class:`Connections`: the hooks' default ids unless a DAG says otherwise) and
gets its clients from :class:`TaskClients`, each built when the task first touches it and closed when the
task ends. A task that only closes Bugzilla bugs therefore never logs in to Koji nor opens a bus socket, and
a service that is down fails only the tasks that need it. Building anything here reads a connection at most;
nothing is sent to a service before the task asks it something.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

if TYPE_CHECKING:
    from relengotron.adapters.bodhi import Bodhi
    from relengotron.adapters.bugzilla import Bugzilla
    from relengotron.adapters.pdc import PDC
    from relengotron.adapters.resultsdb import ResultsDB
    from relengotron.artifacts.staging import StagingTree
    from relengotron.config import ReleaseConfig
    from relengotron.kojiclient import KojiClient
    from relengotron.messaging import Publisher
    from relengotron.signing.base import Signer
    from relengotron.tools.remote import SSHRunner

T = TypeVar("T")


@dataclass(frozen=True)
class Connections:
    """The Airflow connection ids a task uses.

    ``compose_ssh`` is an SSH provider connection to the compose host, used only by ``compose: remote`` OSTree
    artifacts; ``mirror_ssh`` one to the mirror host, used only when the release configuration's master
    mirror is ``host:/path``.
    """

    koji: str = "koji_default"
    bodhi: str = "bodhi_default"
    pdc: str = "pdc_default"
    resultsdb: str = "resultsdb_default"
    bugzilla: str = "bugzilla_default"
    bus: str = "bus_default"
    signing: str = "signing_default"
    compose_ssh: str = "compose_ssh"
    mirror_ssh: str = "mirror_ssh"

    @classmethod
    def of(cls, operator: object) -> Connections:
        """The connections an operator names the provider way (``koji_conn_id``, ``mirror_ssh_conn_id``, …): each
        of its ``<name>_conn_id`` attributes, the default for the rest. Pure."""
        names = [f.name for f in fields(cls)]
        return cls(**{n: getattr(operator, f"{n}_conn_id") for n in names if getattr(operator, f"{n}_conn_id", None)})


class Lazy(Generic[T]):
    """Stands in for the object ``build()`` returns, building it on first attribute access (once): for handing a
    bundle of services to code that may use only some of them."""

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


class TaskClients:
    """The service clients of one task, each built from its connection on first use and kept for the task.

    Registered with ``stack`` so that leaving it closes the clients that were built (Koji logs out last), and
    the SSH runners too. Not thread-safe: one task, one instance.
    """

    _CLOSED_IN_ORDER = ("publisher", "bugzilla", "resultsdb", "pdc", "bodhi", "koji")

    def __init__(self, connections: Connections, stack: ExitStack) -> None:
        self.connections = connections
        self.stack = stack
        stack.callback(self._close)

    @cached_property
    def koji(self) -> KojiClient:
        from relengotron.airflow.hooks import KojiHook

        return KojiHook(self.connections.koji).client

    @cached_property
    def bodhi(self) -> Bodhi:
        from relengotron.airflow.hooks import BodhiHook

        return BodhiHook(self.connections.bodhi).client

    @cached_property
    def pdc(self) -> PDC:
        from relengotron.airflow.hooks import PDCHook

        return PDCHook(self.connections.pdc).client

    @cached_property
    def resultsdb(self) -> ResultsDB:
        from relengotron.airflow.hooks import ResultsDBHook

        return ResultsDBHook(self.connections.resultsdb).client

    @cached_property
    def bugzilla(self) -> Bugzilla:
        from relengotron.airflow.hooks import BugzillaHook

        return BugzillaHook(self.connections.bugzilla).client

    @cached_property
    def publisher(self) -> Publisher:
        from relengotron.airflow.hooks import BusHook

        return BusHook(self.connections.bus).publisher

    def ssh(self, conn_id: str) -> SSHRunner:
        """An SSH runner over the SSH provider connection ``conn_id`` (nothing is contacted before its first
        command; closed with the task)."""
        from airflow.providers.ssh.hooks.ssh import SSHHook

        from relengotron.tools.remote import SSHRunner

        runner = SSHRunner.from_hook(SSHHook(ssh_conn_id=conn_id))
        self.stack.callback(runner.close)
        return runner

    def mirror_ssh(self, config: ReleaseConfig) -> SSHRunner | None:
        """The runner to the mirror host; None when the master mirror is a local path (as
        :meth:`relengotron.sync.Mirror.from_location` reads it)."""
        master = config.mirror.master
        if master.startswith("/") or ":" not in master:
            return None
        return self.ssh(self.connections.mirror_ssh)

    def staging(self, config: ReleaseConfig, bwlimit: int | None = None) -> StagingTree:
        """The staging tree (what is released, and what clients pull once synced) and its master mirror, whose
        SSH connection is read only when the mirror is first used."""
        from relengotron.artifacts.staging import StagingTree

        return StagingTree.from_layout(config.mirror, lambda: self.mirror_ssh(config), bwlimit)

    def lazy(self, name: str) -> Any:
        """The client ``name`` behind a :class:`Lazy`: built only if the code it is handed to uses it."""
        return Lazy(lambda: getattr(self, name), name)

    def _close(self) -> None:
        for name in self._CLOSED_IN_ORDER:
            client = self.__dict__.get(name)
            if client is not None:
                client.close()


def release_signer(config: ReleaseConfig, release_id: str, connections: Connections) -> Signer | None:
    """The signer of ``release_id``'s key, or None when the release has no key. The signing connection is read
    (and for sigul the SSH connection opened) only when the signer is first used. The one signer factory of
    every task."""
    from relengotron.airflow.hooks import SigningHook

    key = config.release(release_id).signing_key
    if key is None:
        return None
    hook = SigningHook(connections.signing)
    return cast("Signer", Lazy(lambda: hook.signer(key), f"signer {key}"))


def summary_signer(config: ReleaseConfig, connections: Connections) -> Signer | None:
    """The signer of the released OSTree repository's summary: the key of the newest maintained release
    (:func:`relengotron.ostree.maintenance.summary_release`); None when no release is signed."""
    from relengotron.ostree.maintenance import summary_release

    release = summary_release(config)
    return release_signer(config, release.id, connections) if release is not None else None
