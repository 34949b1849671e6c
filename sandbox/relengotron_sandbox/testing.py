"""What the tests, the bench, the demo and the sandbox itself share to run things, once (in the spirit of
fedora-messaging's ``testing`` module: helpers a project's tests import from the package they test against).

Processes: :func:`start` runs a command as the leader of a session of its own with its output in a log;
:func:`stop` ends it and every descendant — its stop signal, then SIGKILL what is left — by process, group and
session id, never by name; a :class:`Process` says whether it is alive, shows its log's tail and its memory
(VmHWM, VmRSS), and may carry a ``marker`` (a piece of its command line) by which a later caller holding only
its pid tells it from a stranger that reuses the pid. :func:`wait_for` polls a condition while watching
processes. :func:`airflow_env` is the environment of a private Airflow on 127.0.0.1 running this repository's
DAGs. :func:`release`, :func:`artifact` and :func:`release_config` build :mod:`relengotron.config` objects with
sensible defaults and keyword overrides.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from relengotron.config import (
    Artifact,
    MirrorLayout,
    OSTreeSettings,
    Release,
    ReleaseConfig,
    Retention,
)

REPO = Path(__file__).resolve().parents[2]  # the repository of this (editable) install: dags/, plugins/, config/
STOP_TIMEOUT = 20.0  # seconds a process and its descendants get to end after their stop signal
KILL_TIMEOUT = 5.0  # seconds to wait for SIGKILL to take effect
T = TypeVar("T")


class ProcessError(RuntimeError):
    """A process exited early or survived SIGKILL, or a condition was not reached in time."""


# --------------------------------------------------------------------------- reading /proc


@dataclass(frozen=True)
class _Stat:
    state: str
    ppid: int
    pgrp: int
    session: int


def _read(pid: int) -> _Stat | None:
    """``pid``'s state, parent, group and session from /proc (None when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, which may hold anything
    return _Stat(fields[0], int(fields[1]), int(fields[2]), int(fields[3]))


def _scan() -> dict[int, _Stat]:
    """Every process now in /proc (pure read)."""
    table = {int(entry): _read(int(entry)) for entry in os.listdir("/proc") if entry.isdigit()}
    return {pid: stat for pid, stat in table.items() if stat is not None}


def _live(table: Mapping[int, _Stat], pid: int) -> bool:
    return pid in table and table[pid].state != "Z"


def _family(pid: int, table: Mapping[int, _Stat]) -> set[int]:
    """``pid``'s live descendants and the live members of the group and session it leads (without itself)."""
    children: dict[int, list[int]] = defaultdict(list)
    for child, stat in table.items():
        children[stat.ppid].append(child)
    found = {p for p, stat in table.items() if pid in (stat.pgrp, stat.session)}
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    found.discard(pid)
    return {p for p in found if _live(table, p)}


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (exists and is not a zombie)."""
    stat = _read(pid)
    return stat is not None and stat.state != "Z"


def descendants(pid: int) -> list[int]:
    """Live processes descending from ``pid`` or in the group or session it leads."""
    return sorted(_family(pid, _scan()))


def session_processes(sid: int) -> list[int]:
    """Live processes of session ``sid`` (its leader included while it runs)."""
    return sorted(p for p, stat in _scan().items() if stat.session == sid and stat.state != "Z")


def cmdline(pid: int) -> str | None:
    """``pid``'s command line, words joined by spaces (None when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def log_tail(path: Path | str, lines: int = 30) -> str:
    """The last ``lines`` lines of a log, for error messages."""
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(drop: tuple[str, ...] = ("AIRFLOW", "PYTHONPATH")) -> dict[str, str]:
    """This process's environment without the variables (by prefix) that could point a child elsewhere."""
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


# --------------------------------------------------------------------------- processes


UNKNOWN_EXIT = 255  # the exit status told of a process that ended but was not ours to wait for


@dataclass
class Process:
    """A process :func:`start` started (``popen`` set), or one read back from a record by its pid."""

    name: str
    pid: int
    log: Path
    marker: str = ""  # a piece of its command line (as it shows it, after any retitling)
    stop_signal: int = signal.SIGTERM
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def returncode(self) -> int | None:
        """Its exit status once it has ended (known only to the process that started it)."""
        return None if self.popen is None else self.popen.poll()

    def poll(self) -> int | None:
        """None while it runs; once it has ended, its exit status — known only to the process that started it
        (:data:`UNKNOWN_EXIT` for one read back from a record)."""
        if self.popen is not None:
            return self.popen.poll()
        return None if alive(self.pid) else UNKNOWN_EXIT

    def alive(self) -> bool:
        """Whether it still runs (not exited, not a zombie). Unlike :meth:`ours` it ignores the command line,
        which is the parent's until the child has exec'd."""
        if self.popen is not None and self.popen.poll() is not None:
            return False
        return alive(self.pid)

    def ours(self) -> bool:
        """Whether its pid still runs this process: alive, and its command line holds the marker."""
        line = cmdline(self.pid)
        return line is not None and self.marker in line and alive(self.pid)

    def check(self) -> bool:
        """True while it runs; :class:`ProcessError` naming it, with its log's tail, once it has exited."""
        if not self.alive():
            raise ProcessError(f"{self.name} exited\n{self.tail()}")
        return True

    def tail(self, lines: int = 40) -> str:
        """Its log's last lines under a header naming it (and its exit status when known)."""
        status = "" if self.returncode is None else f", exit {self.returncode}"
        return f"--- {self.name} ({self.log}{status}) ---\n{log_tail(self.log, lines)}"

    def memory_mib(self, key: str) -> float:
        """A memory figure of /proc/<pid>/status (``VmHWM``: peak resident, ``VmRSS``: resident), in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
        raise ProcessError(f"{self.name}: no {key} in /proc/{self.pid}/status")

    def peak_rss_mib(self) -> float:
        return self.memory_mib("VmHWM")

    def rss_mib(self) -> float:
        return self.memory_mib("VmRSS")

    def stop(self, sig: int | None = None, timeout: float = STOP_TIMEOUT) -> int | None:
        """:func:`stop` it; its exit status when known. Idempotent."""
        stop(self, sig=sig, timeout=timeout)
        return self.returncode

    def record(self) -> dict[str, Any]:
        """What a later process needs to find it again (JSON-ready)."""
        return {"name": self.name, "pid": self.pid, "marker": self.marker, "log": str(self.log)}

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Process:
        return cls(str(data["name"]), int(data["pid"]), Path(data["log"]), str(data["marker"]))


def start(
    name: str,
    argv: list[str],
    *,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    marker: str = "",
    stop_signal: int = signal.SIGTERM,
    user: str | None = None,
) -> Process:
    """Start ``argv`` as the leader of a session of its own (so it and all it spawns can be stopped together),
    stdin from /dev/null, stdout and stderr appended to ``log``, as ``user`` if given. Not idempotent: each call
    starts one more process; stop it with :func:`stop`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
            user=user,
            group=pwd.getpwnam(user).pw_gid if user else None,
        )
    return Process(name, popen.pid, log, marker, stop_signal, popen)


def stop(*processes: Process | int, sig: int | None = None, timeout: float = STOP_TIMEOUT) -> None:
    """Stop each process and every descendant of it: ``sig`` (default: the process's stop signal, SIGTERM for a
    bare pid) to the process group it leads — or to it alone when it leads none — and to each descendant
    outside that group, all at once; after ``timeout`` seconds, SIGKILL to whatever of them is left.

    Idempotent: a process that has ended (and a group that has emptied) is skipped. A group outlives its dead
    leader, so a leader that died alone still gets its session stopped. :class:`ProcessError` names what
    survives SIGKILL."""
    targets = [p if isinstance(p, Process) else Process(str(p), p, Path("/dev/null")) for p in processes]
    table = _scan()
    family = {t.pid: _family(t.pid, table) for t in targets}
    for target in targets:
        _signal(target.pid, family[target.pid], table, target.stop_signal if sig is None else sig)
    left = _wait_gone(targets, family, timeout)
    if left:
        table = _scan()
        for target in targets:
            _signal(target.pid, set(left), table, signal.SIGKILL)
        left = _wait_gone(targets, family, KILL_TIMEOUT)
    if left:
        raise ProcessError(f"processes of {', '.join(t.name for t in targets)} survived SIGKILL: {left}")


def _signal(pid: int, family: set[int], table: Mapping[int, _Stat], sig: int) -> None:
    """``sig`` to the group ``pid`` leads (or to ``pid`` when it leads none) and to ``family`` outside it."""
    if pid not in table or table[pid].pgrp == pid:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
    elif _live(table, pid):
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
    for member in family:
        if _live(table, member) and table[member].pgrp != pid:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(member, sig)


def _wait_gone(targets: list[Process], family: dict[int, set[int]], timeout: float) -> list[int]:
    """Wait until the targets and their families (late spawns included) have ended; what is left."""
    deadline = time.monotonic() + timeout
    while True:
        table = _scan()
        for target in targets:
            family[target.pid] |= _family(target.pid, table)
        left = sorted(p for t in targets for p in {t.pid, *family[t.pid]} if _live(table, p))
        _reap(targets)  # after the scan: a target that ended just before it has its status collected too
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def _reap(targets: list[Process]) -> None:
    """Collect the exit status of the targets that are our children, so they do not linger as zombies."""
    for target in targets:
        if target.popen is not None:
            target.popen.poll()
        else:
            with suppress(ChildProcessError):
                os.waitpid(target.pid, os.WNOHANG)


def wait_for(
    what: str, ready: Callable[[], T], timeout: float, *, every: float = 0.2, watch: Iterable[Process] = ()
) -> T:
    """Poll ``ready`` every ``every`` seconds until it returns something true, and return that. An exception it
    raises means "not yet", except :class:`ProcessError`; a ``watch``ed process that exits ends the wait too.
    After ``timeout`` seconds, :class:`ProcessError` naming ``what``, the last answer and the watched logs."""
    watched = list(watch)
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        for process in watched:
            if not process.alive():
                raise ProcessError(f"{what}: {process.name} exited\n{process.tail()}")
        try:
            last = ready()
        except ProcessError:
            raise
        except Exception as exc:  # not there yet
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            tails = "".join(f"\n{process.tail()}" for process in watched)
            raise ProcessError(f"{what}: not reached within {timeout} s (last: {last!r}){tails}")
        time.sleep(every)


# --------------------------------------------------------------------------- a private Airflow


def airflow_env(
    home: Path,
    *,
    base: Mapping[str, str],
    repo: Path = REPO,
    venv_bin: Path | None = None,
    api_port: int | None = None,
    jwt_secret: str | None = None,
    executor: str = "LocalExecutor",
    parallelism: int = 4,
    refresh_seconds: int = 5,
    settings: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of the processes of one private Airflow (pure but for a generated JWT secret).

    ``base`` with, on top: the venv's ``bin`` leading PATH (Airflow's components spawn ``airflow``), AIRFLOW_HOME
    ``home``, ``repo``'s DAGs and plugins, no examples, ``executor`` with ``parallelism`` (two cores: small),
    new DAG files seen within ``refresh_seconds``; with ``api_port``, the API server on 127.0.0.1 only, one
    worker, the Execution API tasks report to, and one JWT secret for every component. ``settings``
    (``AIRFLOW__…`` names) come last."""
    venv_bin = venv_bin or Path(sys.executable).parent
    env = dict(base)
    env.update(
        {
            "PATH": f"{venv_bin}:{base.get('PATH', '/usr/bin:/bin')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(repo / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(repo / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": str(refresh_seconds),
        }
    )
    if api_port is not None:
        env.update(
            {
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(api_port),
                "AIRFLOW__API__WORKERS": "1",
                # where a task's supervisor reaches the Execution API (its default is port 8080)
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
                "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret or secrets.token_urlsafe(32),
            }
        )
    env.update(settings or {})
    return env


# --------------------------------------------------------------------------- release configuration objects

RAWHIDE_DIST = "fc26"  # the sandbox world's Rawhide


def release(release_id: str = "f24", *, version: str | None = None, **overrides: Any) -> Release:
    """A :class:`Release` as Fedora's look: ``f24`` is Fedora 24 (dist fc24, PDC fedora-24, Bugzilla Fedora 24,
    x86_64, tags ``build: f24`` and ``stable: f24-updates``, unsigned); ``rawhide`` is Fedora Rawhide; another
    id takes its version from ``version``. Any field can be overridden by keyword (pure)."""
    number = re.fullmatch(r"f(\d+)", release_id)
    version = version or (number.group(1) if number else release_id)
    numeric = version.isdigit()
    made = Release(
        id=release_id,
        name=f"Fedora {version.capitalize()}",
        version=version,
        state="active" if numeric else "rawhide",
        dist=f"fc{version}" if numeric else RAWHIDE_DIST,
        pdc_release=f"fedora-{version}",
        bugzilla_product="Fedora",
        bugzilla_version=version,
        arches=("x86_64",),
        signing_key=None,
        tags={"build": release_id, "stable": f"{release_id}-updates"},
        signing_chain=(),
        successor=None,
    )
    return dataclasses.replace(made, **overrides)


def artifact(name: str = "atomic-host", kind: str = "ostree", *, release: str = "f24", **overrides: Any) -> Artifact:
    """An :class:`Artifact` of ``release``: for kind ``ostree`` the ref ``fedora/{version}/{arch}/<name>``, for
    another kind the image ``<name>-{version}.{arch}.img``; x86_64, no tests, composed locally. Any field can be
    overridden by keyword (pure)."""
    ostree = kind == "ostree"
    made = Artifact(
        name=name,
        kind=kind,
        release=release,
        arches=("x86_64",),
        ref=f"fedora/{{version}}/{{arch}}/{name}" if ostree else None,
        image=None if ostree else f"{name}-{{version}}.{{arch}}.img",
        tests=(),
        compose="local",
    )
    return dataclasses.replace(made, **overrides)


def release_config(
    releases: Iterable[Release] = (), artifacts: Iterable[Artifact] = (), *, root: Path = Path("/"), **overrides: Any
) -> ReleaseConfig:
    """A :class:`ReleaseConfig` of ``releases`` and ``artifacts`` whose files and trees lie under ``root``
    (``releng.yaml``, ``policies.yaml``, the OSTree repository ``repo``, the mirror's ``staging``, ``master`` and
    ``archive``), with Fedora's mirror layout below ``linux/`` (at the top here: ``master`` stands for
    /pub/fedora/linux, where config/fedora.yaml's is the module top /pub/fedora) and a 30-day, 3-commit OSTree
    retention. ``mirror`` and ``ostree`` overrides may be given as keyword dicts of their fields; any other
    field as itself (pure)."""
    mirror = MirrorLayout(
        staging=root / "staging",
        master=str(root / "master"),
        archive=str(root / "archive"),
        updates="updates/{stream}/{version}/{arch}",
        images="releases/{version}/{kind}/{arch}",
        ostree="atomic/repo",
        website="website",
    )
    ostree = OSTreeSettings(root / "repo", Retention(keep_days=30, keep_last=3), static_deltas=True)
    for name, value in (("mirror", mirror), ("ostree", ostree)):
        if isinstance(overrides.get(name), Mapping):
            overrides[name] = dataclasses.replace(value, **overrides[name])
    made = ReleaseConfig(
        path=root / "releng.yaml",
        releases={r.id: r for r in releases},
        artifacts=tuple(artifacts),
        gating_policies=root / "policies.yaml",
        ostree=ostree,
        mirror=mirror,
    )
    return dataclasses.replace(made, **overrides)
