"""The remote compose backend over a real sshd on 127.0.0.1 whose `rpm-ostree` is a stand-in composing the
treefile's packages with relengotron's local logic; results pulled through a shared path or over HTTP."""

from __future__ import annotations

import functools
import json
import sys
import threading
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sshd import sshd
from test_ostree_support import BASE, REF, UPDATED_GLIBC, Payloads, compose_and_merge, make_signer, snapshot

from relengotron.manifest import Manifest
from relengotron.ostree.compose import ComposeRequest, LocalBackend, RemoteBackend
from relengotron.ostree.merge import MERGED, UNCHANGED, merge_if_changed
from relengotron.ostree.repo import OSTreeRepo
from relengotron.ostree.treefile import YumRepo
from relengotron.tools.remote import SSHRunner, run_checked
from relengotron.tools.run import ToolError
from relengotron_sandbox.testing import alive, cmdline, wait_for

pytestmark = pytest.mark.integration

NOW = datetime(2016, 6, 14, 12, 0, tzinfo=UTC)

STANDIN = """#!{python}
# Stand-in for rpm-ostree on the test compose host: `rpm-ostree compose tree --repo=R --write-commitid-to=F T`.
import argparse
import sys
from pathlib import Path

sys.path.insert(0, {repo!r})  # this checkout's relengotron, not whatever the interpreter has installed
from relengotron.ostree.repo import OSTreeRepo
from relengotron.ostree.compose import compose_treefile

parser = argparse.ArgumentParser(prog="rpm-ostree")
parser.add_argument("command", choices=["compose"])
parser.add_argument("subcommand", choices=["tree"])
parser.add_argument("--repo", required=True)
parser.add_argument("--write-commitid-to", required=True)
parser.add_argument("treefile")
args = parser.parse_args()
with open(Path(args.repo).parent.parent / "invocations", "a") as log:  # beside the compose directories
    log.write(" ".join(sys.argv[1:]) + "\\n")
try:
    commit = compose_treefile(args.treefile, OSTreeRepo(args.repo), workdir=Path(args.repo).parent / "work")
except Exception as exc:
    sys.exit(f"error: {{exc}}")
Path(args.write_commitid_to).write_text(commit + "\\n")
"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def payloads(built_world, tmp_path_factory: pytest.TempPathFactory) -> Payloads:
    return Payloads(built_world, tmp_path_factory.mktemp("yum"))


@pytest.fixture
def host(sshd_server, tmp_path: Path, payloads: Payloads) -> dict:
    """The compose host: the stand-in rpm-ostree on the sessions' PATH, the signed yum repository of F24 packages,
    whose key the backend copies to the host (the repository names it there)."""
    standin = sshd_server.bin / "rpm-ostree"
    standin.write_text(STANDIN.format(python=sys.executable, repo=str(Path(__file__).resolve().parents[2])))
    standin.chmod(0o755)
    runner = SSHRunner(
        sshd_server.host, sshd_server.port, sshd_server.user, sshd_server.client_key, sshd_server.host_key
    )
    workdir = tmp_path / "host"
    key_url = f"file://{workdir}/keys/{payloads.public_key.name}"
    yum = YumRepo(payloads.repo.id, payloads.repo.baseurl, (key_url,))
    yield {"server": sshd_server, "runner": runner, "repos": (yum,), "workdir": workdir}
    runner.close()


def _backend(host: dict, payloads: Payloads, workdir: Path, **kwargs) -> RemoteBackend:
    backend = RemoteBackend(
        host["runner"], host_workdir=str(host["workdir"]), workdir=workdir, keys=[payloads.public_key], **kwargs
    )
    assert host["repos"][0].gpgkey == (backend.key_url(payloads.public_key),)
    return backend


def _request(host: dict, payloads: Payloads, **changes: str) -> ComposeRequest:
    local = payloads.request(**changes)
    return ComposeRequest(
        ref=REF, manifest=local.manifest, packages=local.packages, repos=host["repos"], releasever="24"
    )


def test_a_remote_compose_gives_the_tree_a_local_compose_gives(tmp_path: Path, host: dict, payloads: Payloads) -> None:
    backend = _backend(host, payloads, tmp_path / "work")
    composed = backend.compose(_request(host, payloads))
    assert composed.backend == f"remote {host['server'].user}@127.0.0.1:{host['server'].port}"
    invocations = (host["workdir"] / "invocations").read_text().splitlines()
    name = f"fedora_24_x86_64_atomic-host-{composed.manifest.input_hash[:16]}"
    assert invocations == [
        f"compose tree --repo={host['workdir']}/{name}/repo --write-commitid-to={host['workdir']}/{name}/commitid "
        f"{host['workdir']}/{name}/treefile.json"
    ]
    assert not (host["workdir"] / name).exists()  # removed once the commit was pulled
    assert OSTreeRepo(composed.repo).rev_parse(REF) == composed.commit

    shared = OSTreeRepo(tmp_path / "shared")
    signer = make_signer(tmp_path / "gnupg")
    merged = merge_if_changed(shared, composed, version_prefix="24", signer=signer, now=NOW)
    assert merged.status == MERGED
    local = LocalBackend(tmp_path / "local")
    _, same = compose_and_merge(local, shared, payloads.request(), signer, now=NOW)
    assert (same.status, same.content_checksum) == (UNCHANGED, composed.content_checksum)

    changed = backend.compose(_request(host, payloads, glibc=UPDATED_GLIBC))
    result = merge_if_changed(shared, changed, version_prefix="24", signer=signer, now=NOW)
    assert (result.status, result.previous) == (MERGED, merged.head)
    assert UPDATED_GLIBC in shared.show(REF).metadata["relengotron.manifest"]


def test_the_result_can_be_fetched_over_http(tmp_path: Path, host: dict, payloads: Payloads) -> None:
    host["workdir"].mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(host["workdir"])))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        backend = _backend(
            host, payloads, tmp_path / "work", fetch_from=f"http://127.0.0.1:{server.server_address[1]}/"
        )
        composed = backend.compose(_request(host, payloads))
    finally:
        server.shutdown()
        server.server_close()
    local = LocalBackend(tmp_path / "local").compose(payloads.request())
    assert composed.content_checksum == local.content_checksum
    remotes = (Path(composed.repo) / "config").read_text()
    assert f"url=http://127.0.0.1:{server.server_address[1]}/" in remotes


def test_a_failing_compose_names_the_ref_and_the_host(tmp_path: Path, host: dict, payloads: Payloads) -> None:
    shared = OSTreeRepo(tmp_path / "shared")
    signer = make_signer(tmp_path / "gnupg")
    compose_and_merge(LocalBackend(tmp_path / "local"), shared, payloads.request(), signer, now=NOW)
    before = snapshot(shared)
    backend = _backend(host, payloads, tmp_path / "work")
    manifest = Manifest.of([*BASE.values(), "zsh-5.2-5.fc24"])
    request = ComposeRequest(ref=REF, manifest=manifest, packages=manifest.nvrs, repos=host["repos"], releasever="24")
    with pytest.raises(ToolError) as caught:
        backend.compose(request)
    message = str(caught.value)
    assert message.startswith(
        f"{REF} on {host['server'].user}@127.0.0.1:{host['server'].port}: rpm-ostree failed (exit 1)"
    )
    assert f"error: {REF}: package zsh-5.2-5.fc24: no repository has it" in message
    assert snapshot(shared) == before
    assert not (tmp_path / "work" / "fedora_24_x86_64_atomic-host.scratch").exists()


def test_the_ssh_runner_from_an_airflow_hook(sshd_server, monkeypatch) -> None:
    from airflow.providers.ssh.hooks.ssh import SSHHook

    monkeypatch.setenv("AIRFLOW_CONN_COMPOSE_HOST", json.dumps(sshd_server.connection()))
    with SSHRunner.from_hook(SSHHook(ssh_conn_id="compose_host")) as runner:
        where = f"{sshd_server.user}@127.0.0.1:{sshd_server.port}"
        assert runner.name == where
        assert run_checked(runner, ["sh", "-c", 'printf %s "$1"; cat', "sh", "it's"], item="x", input=b" in") == (
            b"it's in"
        )
        with pytest.raises(ToolError, match=rf"^x on {where}: sh failed \(exit 3\): oops$"):
            run_checked(runner, ["sh", "-c", "echo oops >&2; exit 3"], item="x")
        assert runner.run(["sh", "-c", "echo out; echo err >&2; exit 5"]) == (5, b"out\n", b"err\n")
        runner.put(sshd_server.client_key.with_suffix(".pub"), str(sshd_server.root / "copied.pub"))
        assert (sshd_server.root / "copied.pub").read_bytes() == sshd_server.client_key.with_suffix(".pub").read_bytes()


def test_the_server_leaves_no_process(tmp_path: Path) -> None:
    with sshd(tmp_path / "sshd") as server:
        (server.bin / "sleeper").write_text("#!/bin/sh\nsleep 60\n")
        (server.bin / "sleeper").chmod(0o755)
        runner = SSHRunner(server.host, server.port, server.user, server.client_key, server.host_key)
        path = run_checked(runner, ["sh", "-c", "echo $PATH"], item="path").decode().strip().split(":")
        assert path.index(str(server.bin)) < path.index("/usr/bin")
        channel = runner._connect().get_transport().open_session()
        channel.exec_command("sleeper")  # still running when the server stops
        sleeping = lambda: [pid for pid in server.processes() if (cmdline(pid) or "").strip() == "sleep 60"]  # noqa: E731
        wait_for("the sleeper running", sleeping, 10, every=0.05)
        processes = server.processes()
    runner.close()
    assert not [pid for pid in processes if alive(pid)]
