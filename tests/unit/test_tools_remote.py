"""The one command runner: local runs, checked runs naming the item and host, temp dirs, SSH set-up without I/O.

Real SSH (pinned host key, SFTP, an Airflow SSHHook) is exercised in tests/integration/test_signing.py and
test_ostree_remote.py against a real sshd on 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from relengotron.tools.remote import LocalRunner, RemoteError, RemoteTimeout, SSHRunner, remote_tempdir, run_checked
from relengotron.tools.run import ToolError


def test_local_runner_and_checked_runs(tmp_path: Path) -> None:
    runner = LocalRunner()
    assert runner.run(["sh", "-c", "cat; echo err >&2; exit 4"], input=b"in") == (4, b"in", b"err\n")
    assert runner.run(["no-such-tool-here"])[0] == 127
    with pytest.raises(ToolError, match=r"^the item: sh failed \(exit 4\): err$"):
        run_checked(runner, ["sh", "-c", "echo err >&2; exit 4"], item="the item")
    with remote_tempdir(runner, "unit") as tmp:
        (tmp_path / "a").write_bytes(b"data")
        runner.put(tmp_path / "a", f"{tmp}/b")
        runner.get(f"{tmp}/b", tmp_path / "c")
        assert (tmp_path / "c").read_bytes() == b"data"
    assert not Path(tmp).exists()


def test_local_runner_env_is_added_to_the_environment() -> None:
    runner = LocalRunner(env={"X_RELENG": "y"})
    assert run_checked(runner, ["sh", "-c", 'cat; echo "$X_RELENG"; test -n "$PATH"'], item="i", input=b"in:") == (
        b"in:y\n"
    )
    with pytest.raises(ToolError, match=r"^fedora/24: sh failed \(exit 4\): boom$") as caught:
        run_checked(runner, ["sh", "-c", "echo boom >&2; exit 4"], item="fedora/24")
    assert (caught.value.item, caught.value.returncode) == ("fedora/24", 4)


def test_a_local_timeout_is_a_remote_timeout() -> None:
    with pytest.raises(RemoteTimeout, match=r"^local: sleep 5 timed out after 0\.2 s$"):
        LocalRunner().run(["sleep", "5"], timeout=0.2)


HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBJDGyp3dRUWV+jQsO+08GnJ2Vh+KfRaYYUFahSGDNQg"


def test_a_pinned_host_key_is_required() -> None:
    with pytest.raises(RemoteError, match="pinned host key"):
        SSHRunner("bridge.invalid", host_key="")
    with pytest.raises(RemoteError, match="bad host key"):
        SSHRunner("bridge.invalid", host_key="ssh-ed25519 !!!")
    runner = SSHRunner("bridge.invalid", 2222, "releng", host_key=HOST_KEY)
    assert runner.name == "releng@bridge.invalid:2222" and runner._client is None


class _Hook:
    """What SSHRunner.from_hook uses of an Airflow SSHHook."""

    remote_host = "compose01.example.test"
    port = 2222
    username = "releng"

    def __init__(self, error: Exception | None = None) -> None:
        self.opened = 0
        self.error = error

    def get_conn(self) -> object:
        self.opened += 1
        if self.error is not None:
            raise self.error
        raise AssertionError("a test hook opens no real connection")


def test_from_hook_names_the_host_and_connects_only_on_use() -> None:
    hook = _Hook(error=OSError("connection refused"))
    runner = SSHRunner.from_hook(hook)
    assert runner.name == "releng@compose01.example.test:2222"
    assert hook.opened == 0  # building it contacted nothing
    with pytest.raises(RemoteError, match=r"^releng@compose01.example.test:2222: cannot connect: connection refused$"):
        runner.run(["true"])
    assert hook.opened == 1
