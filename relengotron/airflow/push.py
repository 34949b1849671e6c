"""What the ``updates_push`` tasks work with, assembled from the hooks in one place: the push read from the
run's parameters, the artifact plugin of a mapped item, and the contexts a compose, a promotion or a read of
what was released needs — each client built on first use and closed after the task.

Connections (the defaults; a DAG may name others): ``koji_default``, ``pdc_default``, ``resultsdb_default``,
``signing_default``, ``fedmsg_default``; ``compose_ssh`` — an SSH provider connection to the compose host,
used only by ``compose: remote`` OSTree artifacts; ``mirror_ssh`` — to the mirror host, used only when the
release configuration's master mirror is ``host:/path``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from relengotron.artifacts import ArtifactKind, ComposeContext, Published
    from relengotron.config import ReleaseConfig
    from relengotron.push import Push
    from relengotron.signing.base import Signer


@dataclass(frozen=True)
class PushConnections:
    """The Airflow connection ids the push's tasks use."""

    koji: str = "koji_default"
    pdc: str = "pdc_default"
    resultsdb: str = "resultsdb_default"
    signing: str = "signing_default"
    fedmsg: str = "fedmsg_default"
    compose_ssh: str = "compose_ssh"
    mirror_ssh: str = "mirror_ssh"


@dataclass(frozen=True)
class RemoteCompose:
    """Where the compose host works (``compose: remote``): its per-compose directories, and how this machine
    reaches them (None: the same path, a shared filesystem; a local mount; or an http(s) URL)."""

    host_workdir: str = "/var/tmp/relengotron-compose"
    fetch_from: str | None = None


def load_push(params: Mapping[str, Any]) -> tuple[ReleaseConfig, Push]:
    """The release configuration (the ``relengotron_config`` Variable) and the push the run's params describe;
    :class:`relengotron.push.PushError` names a wrong field."""
    from relengotron.airflow.hooks import release_config
    from relengotron.push import Push

    config = release_config()
    return config, Push.from_conf(params, config)


def plugin_for(config: ReleaseConfig, item: Mapping[str, Any]) -> ArtifactKind:
    """The artifact plugin of one mapped item (a :func:`relengotron.push.plan_items` entry); ValueError naming
    the item when the configuration no longer has it."""
    from relengotron.artifacts import for_target
    from relengotron.planning import Target

    release = config.release(str(item["release"]))
    for artifact in config.artifacts_of(release.id):
        if artifact.name == item["artifact"] and item["arch"] in artifact.arches:
            plugin = for_target(Target(artifact, release, str(item["arch"])))
            if plugin.id != item["id"]:
                break
            return plugin
    raise ValueError(f"{item.get('label')}: no artifact {item.get('id')} in the release configuration {config.path}")


def release_signer(config: ReleaseConfig, release_id: str, connections: PushConnections) -> Signer | None:
    """The signer of the release's key (None: the release is not signed); the backend connects on first use."""
    from relengotron.airflow.hooks import SigningHook

    key = config.release(release_id).signing_key
    return SigningHook(connections.signing).signer(key) if key else None


def published(config: ReleaseConfig, connections: PushConnections, stack: ExitStack) -> Published:
    """Where released artifacts are read back from (the staging OSTree repository, the master mirror)."""
    from relengotron.airflow.services import mirror_runner
    from relengotron.artifacts import Published

    return Published.from_config(config, mirror_runner(config, connections.mirror_ssh, stack))


@contextmanager
def compose_context(
    config: ReleaseConfig,
    push: Push,
    plugin: ArtifactKind,
    connections: PushConnections,
    remote: RemoteCompose = RemoteCompose(),
) -> Iterator[ComposeContext]:
    """A compose's context: Koji (logged out after), the release's signer and its public key for checking
    payload RPMs, a scratch directory (removed after), the compose host for ``compose: remote``, and the
    push's tag as the tag image tasks install from."""
    from relengotron.airflow.hooks import KojiHook
    from relengotron.artifacts import ComposeContext

    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix=f"compose-{plugin.id}-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        koji = KojiHook(connections.koji).client
        stack.callback(koji.close)
        signer = release_signer(config, push.release.id, connections)
        keys: tuple[Path, ...] = ()
        if signer is not None:
            keys = (signer.export_public_key(workdir / "keys" / f"{signer.key_id}.asc"),)
        backend, repos = None, ()
        if plugin.artifact.compose == "remote":
            backend, repos = _remote(koji, push, plugin, connections, remote, workdir, stack)
        yield ComposeContext(
            koji=koji,
            layout=config.mirror,
            ostree=config.ostree,
            workdir=workdir,
            signer=signer,
            rpm_keys=keys,
            remote=backend,
            yum_repos=repos,
            image_tag=push.tag,
        )


def _remote(
    koji: Any,
    push: Push,
    plugin: ArtifactKind,
    connections: PushConnections,
    remote: RemoteCompose,
    workdir: Path,
    stack: ExitStack,
) -> tuple[Any, tuple[Any, ...]]:
    """The compose host (over the SSH provider's hook) and the Koji repository of the push's tag it installs
    from."""
    from airflow.providers.ssh.hooks.ssh import SSHHook

    from relengotron.ostree.compose import RemoteBackend
    from relengotron.ostree.treefile import YumRepo
    from relengotron.tools.remote import SSHRunner

    runner = SSHRunner.from_hook(SSHHook(ssh_conn_id=connections.compose_ssh))
    stack.callback(runner.close)
    backend = RemoteBackend(
        runner, host_workdir=remote.host_workdir, workdir=workdir / "remote", fetch_from=remote.fetch_from
    )
    repo = YumRepo(id=push.tag, baseurl=f"{koji.topurl}/repos/{push.tag}/latest/{plugin.arch}/")
    return backend, (repo,)
