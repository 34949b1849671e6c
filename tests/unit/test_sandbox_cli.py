"""The two commands: ``relengotron`` has production verbs only, ``relengotron-sandbox`` the sandbox's and the
demo's; the sandbox's errors end a command with a message, not a traceback."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from relengotron.cli import main as production
from relengotron_sandbox.cli import main as sandbox


def test_each_command_has_its_own_verbs() -> None:
    assert set(production.commands) == {"listener"}
    assert set(sandbox.commands) == {"up", "down", "endpoints", "build-world", "demo", "demo-stop", "chaos", "bodhi"}
    assert set(sandbox.commands["bodhi"].commands) == {"push", "new", "request", "login"}  # type: ignore[attr-defined]


def test_with_nothing_running_endpoints_fails_with_a_message_and_down_and_demo_stop_do_nothing(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    endpoints = CliRunner().invoke(sandbox, ["endpoints", "--state", state])
    assert endpoints.exit_code == 1 and "no sandbox is running on" in endpoints.output
    assert "relengotron-sandbox up" in endpoints.output and endpoints.exception is not None
    down = CliRunner().invoke(sandbox, ["down", "--state", state])
    assert (down.exit_code, down.output) == (0, "no sandbox was running\n")
    stopped = CliRunner().invoke(sandbox, ["demo-stop", "--state", str(tmp_path / "demo")])
    assert (stopped.exit_code, stopped.output) == (0, "nothing was running\n")


def test_chaos_refuses_an_unknown_target_before_starting_anything(tmp_path: Path) -> None:
    state = tmp_path / "chaos"
    result = CliRunner().invoke(sandbox, ["chaos", "--state", str(state), "--seed", "1", "--targets", "scheduler,dns"])
    assert result.exit_code == 1 and "no such fault target on local: dns" in result.output
    assert "Traceback" not in result.output and not state.exists()


def test_bodhi_verbs_with_nothing_running_fail_with_a_message(tmp_path: Path) -> None:
    result = CliRunner().invoke(sandbox, ["bodhi", "push", "--state", str(tmp_path / "state")])
    assert result.exit_code == 1 and "no sandbox is running on" in result.output and "Traceback" not in result.output


def test_build_world_names_the_file_and_item_of_a_mistake(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("signing_key: {name: K, email: k@example.test}\nreleases: {}\npackages: [{name: x}]\n")
    result = CliRunner().invoke(sandbox, ["build-world", "--world", str(bad), "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 1 and str(bad) in result.output and "Traceback" not in result.output
