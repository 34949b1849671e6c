"""tools.run: failures name the item, the tool and what it said."""

from __future__ import annotations

import pytest

from relengotron.tools.run import ToolError, run


def test_success_returns_output() -> None:
    assert run(["sh", "-c", "echo out; echo err >&2"], item="x").stdout == b"out\n"


def test_failure_names_item_tool_exit_and_stderr() -> None:
    with pytest.raises(ToolError) as caught:
        run(["sh", "-c", "echo first >&2; echo 'bad thing' >&2; exit 3"], item="bash-4.3-1.fc24")
    error = caught.value
    assert (error.item, error.tool, error.returncode) == ("bash-4.3-1.fc24", "sh", 3)
    assert str(error) == "bash-4.3-1.fc24: sh failed (exit 3): first | bad thing"


def test_missing_tool_and_timeout() -> None:
    with pytest.raises(ToolError, match="repo: no-such-tool-xyz could not be started"):
        run(["no-such-tool-xyz"], item="repo")
    with pytest.raises(ToolError, match=r"timed out after 0\.2 s"):
        run(["sleep", "5"], item="slow", timeout=0.2)


def test_unchecked_returns_the_failure_and_env_is_added() -> None:
    result = run(["sh", "-c", 'echo "$RELENGOTRON_X"; exit 1'], item="x", env={"RELENGOTRON_X": "y"}, check=False)
    assert (result.returncode, result.stdout) == (1, b"y\n")
