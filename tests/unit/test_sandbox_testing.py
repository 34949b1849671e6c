"""relengotron_sandbox.testing: processes stopped with every descendant and nothing else, waits that name what
they waited for, a private Airflow's environment, and release configuration objects with Fedora's defaults."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relengotron_sandbox import testing

# a parent that starts a child in its session and a grandchild that leaves it (setsid), then waits
FAMILY = """
import os, subprocess, sys, time
subprocess.Popen(["sleep", "60"])
subprocess.Popen(["sleep", "61"], start_new_session=True)
print("started", flush=True)
time.sleep(60)
"""


def test_stop_ends_the_session_and_a_descendant_that_left_it(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "family.log"
    family = testing.start("family", [sys.executable, "-c", FAMILY], log=log, marker="subprocess.Popen")
    testing.wait_for("the family started", lambda: "started" in log.read_text(), 10, watch=[family])
    members = testing.descendants(family.pid)
    assert len(members) == 2 and family.alive() and family.ours()
    assert family.stop() == -signal.SIGTERM
    assert not family.alive() and not [pid for pid in members if testing.alive(pid)]
    family.stop()  # idempotent


def test_a_process_deaf_to_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    deaf = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    )
    log = tmp_path / "deaf.log"
    process = testing.start("deaf", [sys.executable, "-c", deaf], log=log)
    testing.wait_for("SIGTERM ignored", lambda: "ready" in log.read_text(), 10)
    started = time.monotonic()
    assert process.stop(timeout=0.5) == -signal.SIGKILL
    assert time.monotonic() - started < 5


def test_a_process_of_our_own_session_is_stopped_alone_with_its_descendants(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", FAMILY], stdout=subprocess.PIPE)  # in this test's session
    assert parent.stdout is not None and parent.stdout.readline() == b"started\n"
    members = testing.descendants(parent.pid)
    assert len(members) == 2
    testing.stop(testing.Process("parent", parent.pid, Path(), popen=parent))
    assert parent.returncode == -signal.SIGTERM
    assert not [pid for pid in members if testing.alive(pid)]


def test_wait_for_returns_the_answer_treats_errors_as_not_yet_and_names_what_timed_out() -> None:
    answers = iter([ValueError("not yet"), 0, "here"])

    def ready() -> object:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert testing.wait_for("the answer", ready, 5, every=0.01) == "here"
    with pytest.raises(testing.ProcessError, match=r"^the moon: not reached within 0.1 s \(last: ValueError"):
        testing.wait_for("the moon", lambda: int("moon"), 0.1, every=0.01)


def test_wait_for_ends_when_a_watched_process_exits_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "crash.log"
    crash = testing.start("crash", [sys.executable, "-c", "print('bad config'); raise SystemExit(3)"], log=log)
    with pytest.raises(testing.ProcessError, match=r"(?s)^the server up: crash exited\n--- crash .*exit 3.*bad config"):
        testing.wait_for("the server up", lambda: False, 30, watch=[crash])
    with pytest.raises(testing.ProcessError, match="crash exited"):
        crash.check()


def test_memory_figures_and_the_record_of_a_process(tmp_path: Path) -> None:
    process = testing.start("sleeper", ["sleep", "30"], log=tmp_path / "s.log", marker="sleep 30")
    try:
        testing.wait_for("sleep exec'd", process.ours, 5, every=0.01)
        assert 0 < process.rss_mib() <= process.peak_rss_mib()
        again = testing.Process.from_record(process.record())
        assert again == process and again.ours() and again.returncode is None
    finally:
        process.stop()
    assert not again.ours()


def test_airflow_env_keeps_the_base_runs_this_repository_and_serves_on_loopback_only() -> None:
    base = {"PATH": "/usr/bin", "HOME": "/root", "AIRFLOW__CORE__DAGS_FOLDER": "/elsewhere"}
    env = testing.airflow_env(Path("/home"), base=base, venv_bin=Path("/v"), settings={"AIRFLOW__X__Y": "z"})
    assert env["PATH"] == "/v:/usr/bin" and env["HOME"] == "/root" and env["AIRFLOW_HOME"] == "/home"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(testing.REPO / "dags")
    assert env["AIRFLOW__X__Y"] == "z" and "AIRFLOW__API__PORT" not in env
    served = testing.airflow_env(Path("/home"), base=base, api_port=8080, settings={"AIRFLOW__API__WORKERS": "2"})
    assert (served["AIRFLOW__API__HOST"], served["AIRFLOW__API__PORT"], served["AIRFLOW__API__WORKERS"]) == (
        "127.0.0.1",
        "8080",
        "2",
    )
    assert served["AIRFLOW__API_AUTH__JWT_SECRET"]


def test_release_builders_fill_fedoras_defaults_and_take_overrides() -> None:
    f24 = testing.release()
    assert (f24.id, f24.name, f24.version, f24.dist, f24.pdc_release, f24.state) == (
        "f24",
        "Fedora 24",
        "24",
        "fc24",
        "fedora-24",
        "active",
    )
    assert f24.tag("stable") == "f24-updates" and f24.signing_key is None
    rawhide = testing.release("rawhide", tags={"build": "rawhide"})
    assert (rawhide.name, rawhide.state, rawhide.dist, rawhide.tags) == (
        "Fedora Rawhide",
        "rawhide",
        "fc26",
        {"build": "rawhide"},
    )
    assert testing.release("r3", version="23").pdc_release == "fedora-23"
    atomic = testing.artifact(arches=("x86_64", "aarch64"))
    assert atomic.ostree_ref(f24, "aarch64") == "fedora/24/aarch64/atomic-host"
    iso = testing.artifact("dvd", "installer-iso", compose="koji")
    assert (iso.image_name(f24, "x86_64"), iso.ref, iso.compose) == ("dvd-24.x86_64.img", None, "koji")


def test_a_release_config_lies_under_its_root(tmp_path: Path) -> None:
    config = testing.release_config([testing.release()], [testing.artifact()], root=tmp_path, mirror={"master": "h:/m"})
    assert config.release("f24").id == "f24" and config.artifacts_of("f24")[0].name == "atomic-host"
    assert config.mirror.staging == tmp_path / "staging" and config.mirror.master == "h:/m"
    assert config.ostree.repo == tmp_path / "repo" and config.ostree.retention.keep_last == 3
    assert config.release_of_tag("f24-updates") == testing.release()
