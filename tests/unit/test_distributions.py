"""The three distributions, built as wheels from a copy of this repository (offline: the venv's pinned setuptools,
no build isolation, no index): the production wheel holds the production modules and no sandbox or demo module,
its only command is ``relengotron``; the sandbox's wheel holds the sandbox, the demo, the testing helpers and the
world files, with the ``relengotron-sandbox`` command; the message schemas' wheel holds them alone and needs nothing
of releng-o-tron (a consumer installs it with fedora-messaging only)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PIP_WHEEL = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
LEFT_OUT = (".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, zipfile.ZipFile]:
    """Distribution name → its wheel, built from a copy of the working tree (the tree itself is left as it is)."""
    root = tmp_path_factory.mktemp("dist")
    source = root / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*LEFT_OUT))
    out = root / "wheels"
    for project in (source, source / "messages", source / "sandbox"):
        built = subprocess.run(
            [*PIP_WHEEL, "-w", str(out), str(project)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    found = {path.name.split("-")[0]: zipfile.ZipFile(path) for path in out.glob("*.whl")}
    assert set(found) == {"relengotron", "relengotron_messages", "relengotron_sandbox"}, found
    return found


def metadata(wheel: zipfile.ZipFile) -> tuple[list[str], dict[str, list[str]]]:
    """The wheel's file names and its METADATA fields (each with all its values)."""
    names = wheel.namelist()
    [meta] = [n for n in names if n.endswith(".dist-info/METADATA")]
    message = Parser().parsestr(wheel.read(meta).decode())
    return names, {key: message.get_all(key) or [] for key in set(message.keys())}


def entry_points(wheel: zipfile.ZipFile) -> str:
    [path] = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    return wheel.read(path).decode()


def test_the_production_wheel_holds_no_sandbox_or_demo_module(wheels: dict[str, zipfile.ZipFile]) -> None:
    names, fields = metadata(wheels["relengotron"])
    assert not [n for n in names if n.startswith(("relengotron_sandbox", "relengotron/sandbox", "relengotron/demo"))]
    assert not [n for n in names if n.endswith((".yaml", ".yml"))]  # the sandbox's world files stayed out too
    for module in (
        "relengotron/__init__.py",
        "relengotron/cli.py",
        "relengotron/config.py",
        "relengotron/planning.py",
        "relengotron/listener/cli.py",
        "relengotron/airflow/hooks.py",
        "relengotron/artifacts/ostree.py",
        "relengotron/ostree/repo.py",
        "relengotron/signing/__init__.py",
        "relengotron/mash/__init__.py",
    ):
        assert module in names, module
    assert not [n for n in names if n.split("/")[0] != "relengotron" and ".dist-info/" not in n]
    assert fields["License-Expression"] == ["GPL-2.0-or-later"]
    assert not [r for r in fields.get("Requires-Dist", []) if r.startswith("rich")]
    scripts = entry_points(wheels["relengotron"])
    assert "relengotron = relengotron.cli:main" in scripts and "relengotron-sandbox" not in scripts


def test_the_sandbox_wheel_holds_the_sandbox_the_demo_the_testing_helpers_and_the_worlds(
    wheels: dict[str, zipfile.ZipFile],
) -> None:
    names, fields = metadata(wheels["relengotron_sandbox"])
    for module in (
        "relengotron_sandbox/control.py",
        "relengotron_sandbox/testing.py",
        "relengotron_sandbox/demo/run.py",
        "relengotron_sandbox/koji/hub.py",
        "relengotron_sandbox/worlds/fedora.yaml",
        "relengotron_sandbox/worlds/releng.yaml",
        "relengotron_sandbox/worlds/policies.yaml",
    ):
        assert module in names, module
    assert not [n for n in names if n.startswith("relengotron/")]
    assert "relengotron" in fields["Requires-Dist"] and any(r.startswith("rich") for r in fields["Requires-Dist"])
    assert "relengotron-sandbox = relengotron_sandbox.cli:main" in entry_points(wheels["relengotron_sandbox"])


def test_the_message_schemas_wheel_needs_only_fedora_messaging(wheels: dict[str, zipfile.ZipFile]) -> None:
    names, fields = metadata(wheels["relengotron_messages"])
    assert not [n for n in names if n.split("/")[0] not in ("relengotron_messages",) and ".dist-info/" not in n]
    assert "relengotron_messages/push.py" in names
    assert [r.split(">")[0].split("=")[0] for r in fields["Requires-Dist"]] == ["fedora-messaging"]
    points = entry_points(wheels["relengotron_messages"])
    assert (
        "[fedora.messages]" in points
        and "relengotron.push.complete.v1 = relengotron_messages.push:PushCompleteV1" in points
    )
    assert "relengotron-messages" in " ".join(metadata(wheels["relengotron"])[1]["Requires-Dist"])
