"""Koji tasks: created FREE, run in a background thread (OPEN), ending CLOSED or FAILED.

The sandbox has no builders: each task runs in a thread of the hub as its owner, right after the call that
created it commits. Its result is stored the way kojid reports it (an XML-RPC response, or a fault whose
code is the koji exception's), so ``getTaskResult`` returns the value or raises the same koji exception as
the real hub. Task output files live in the real layout, ``<topdir>/work/tasks/<id % 10000>/<id>/``, served
under ``/kojifiles/work/tasks/...``. A task still unfinished when the hub stops is marked FAILED on the
next start ("interrupted"), since the sandbox cannot resume half-done work.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import koji
from koji.xmlrpcplus import Fault, dumps, loads

from relengotron_sandbox.koji.hub import Hub
from relengotron_sandbox.koji.store import apply_query_opts, ts_str

log = logging.getLogger(__name__)

STATES = koji.TASK_STATES
FINISHED = (STATES["CLOSED"], STATES["CANCELED"], STATES["FAILED"])
CHANNELS = {"default": 1, "createrepo": 2, "maven": 3, "livecd": 4, "appliance": 5, "vm": 6, "image": 7, "livemedia": 8}
TaskHandler = Callable[..., Any]


class TaskManager:
    """Creates task rows and runs their handlers in threads."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.handlers: dict[str, TaskHandler] = {}
        self._threads: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()

    def register(self, method: str, handler: TaskHandler) -> None:
        """``handler(task_id, *request)`` returns the task result or raises (a koji error fails the task)."""
        self.handlers[method] = handler

    def workdir(self, task_id: int) -> Path:
        path = Path(self.hub.pathinfo.task(task_id))
        path.mkdir(parents=True, exist_ok=True)
        return path

    def create(
        self,
        method: str,
        request: list[Any],
        owner: int,
        *,
        parent: int | None = None,
        label: str | None = None,
        arch: str = "noarch",
        channel: str = "default",
        priority: int = koji.PRIO_DEFAULT,
        weight: float = 1.0,
    ) -> int:
        """Record a FREE task and start it once the current transaction commits. Returns its id."""
        if method not in self.handlers:
            raise koji.GenericError(f"No such task method: {method}")
        store = self.hub.store
        task_id = store.execute(
            "INSERT INTO tasks (state, create_ts, parent, label, waiting, awaited, owner, method, arch, priority, "
            "weight, channel_id, request) VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                STATES["FREE"],
                time.time(),
                parent,
                label,
                False if parent else None,
                owner,
                method,
                arch,
                priority,
                weight,
                CHANNELS[channel],
                dumps(tuple(request), methodname=method, allow_none=1),
            ),
        ).lastrowid
        store.after_commit(lambda: self._start(task_id))
        return task_id

    def _start(self, task_id: int) -> None:
        thread = threading.Thread(target=self._run, args=(task_id,), name=f"koji-task-{task_id}", daemon=True)
        with self._lock:
            self._threads[task_id] = thread
        thread.start()

    def _run(self, task_id: int) -> None:
        store = self.hub.store
        with store.transaction():
            row = store.row("SELECT method, owner, request FROM tasks WHERE id = ?", (task_id,))
            assert row is not None
            store.execute(
                "UPDATE tasks SET state = ?, start_ts = ? WHERE id = ?", (STATES["OPEN"], time.time(), task_id)
            )
            caller = self.hub.caller_for(row["owner"])
        args, method = loads(row["request"])
        state = STATES["CLOSED"]
        try:
            with self.hub.as_caller(caller):
                result = self.handlers[method](task_id, *args)
            response = dumps((result,), methodresponse=1, allow_none=1)
        except Exception as exc:
            state = STATES["FAILED"]
            if isinstance(exc, Fault):
                fault = exc
            else:
                code = getattr(type(exc), "faultCode", 1)
                text = str(exc) if isinstance(exc, koji.GenericError) else traceback.format_exc()
                fault = Fault(code, text)
                if not isinstance(exc, koji.GenericError):
                    log.exception("koji task %s (%s) crashed", task_id, method)
            response = dumps(fault, methodresponse=1, allow_none=1)
        with store.transaction():
            store.execute(
                "UPDATE tasks SET state = ?, completion_ts = ?, result = ?, waiting = NULL WHERE id = ?",
                (state, time.time(), response, task_id),
            )

    def wait(self, parent: int, children: list[int]) -> dict[int, Any]:
        """Block until the children finish; child id → result, or ``{faultCode, faultString}`` if it failed."""
        store = self.hub.store
        with store.transaction():
            store.execute("UPDATE tasks SET waiting = 1 WHERE id = ?", (parent,))
            for child in children:
                store.execute("UPDATE tasks SET awaited = 1 WHERE id = ?", (child,))
        for child in children:
            with self._lock:
                thread = self._threads.get(child)
            if thread is not None:
                thread.join()
        results: dict[int, Any] = {}
        with store.transaction():
            store.execute("UPDATE tasks SET waiting = 0 WHERE id = ?", (parent,))
            for child in children:
                store.execute("UPDATE tasks SET awaited = 0 WHERE id = ?", (child,))
                results[child] = self.result(child, raise_fault=False)
        return results

    def result(self, task_id: int, raise_fault: bool = True) -> Any:
        row = self.hub.store.row("SELECT state, result FROM tasks WHERE id = ?", (task_id,))
        if row is None:
            raise koji.GenericError("No such task")
        if row["state"] == STATES["CANCELED"]:
            raise koji.GenericError(f"Task {task_id} is canceled")
        if row["state"] not in (STATES["CLOSED"], STATES["FAILED"]):
            raise koji.GenericError(f"Task {task_id} is not finished")
        try:
            result, _ = loads(row["result"])
        except Fault as fault:
            if raise_fault:
                raise
            return {"faultCode": fault.faultCode, "faultString": fault.faultString}
        return result[0]

    def fail_interrupted(self) -> None:
        """Mark tasks left unfinished by a previous run as FAILED (they cannot be resumed)."""
        fault = Fault(koji.GenericError.faultCode, "task interrupted: the sandbox hub stopped while it ran")
        response = dumps(fault, methodresponse=1, allow_none=1)
        with self.hub.store.transaction():
            self.hub.store.execute(
                "UPDATE tasks SET state = ?, completion_ts = ?, result = ? WHERE state NOT IN (?, ?, ?)",
                (STATES["FAILED"], time.time(), response, *FINISHED),
            )

    def stop(self, timeout: float = 30.0) -> None:
        self.stopping.set()
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _task_dict(row: dict[str, Any], request: bool) -> dict[str, Any]:
    info = {
        "id": row["id"],
        "state": row["state"],
        "create_time": ts_str(row["create_ts"]),
        "create_ts": row["create_ts"],
        "start_time": ts_str(row["start_ts"]),
        "start_ts": row["start_ts"],
        "completion_time": ts_str(row["completion_ts"]),
        "completion_ts": row["completion_ts"],
        "channel_id": row["channel_id"],
        "host_id": None,
        "parent": row["parent"],
        "label": row["label"],
        "waiting": None if row["waiting"] is None else bool(row["waiting"]),
        "awaited": None if row["awaited"] is None else bool(row["awaited"]),
        "owner": row["owner"],
        "method": row["method"],
        "arch": row["arch"],
        "priority": row["priority"],
        "weight": row["weight"],
    }
    if request:
        info["request"] = list(loads(row["request"])[0])
    return info


class TaskExports:
    def __init__(self, hub: Hub, tasks: TaskManager) -> None:
        self._hub = hub
        self._tasks = tasks

    def _row(self, task_id: int, strict: bool) -> dict[str, Any] | None:
        row = self._hub.store.row("SELECT * FROM tasks WHERE id = ?", (task_id,))
        if row is None and strict:
            raise koji.GenericError(f"No such task: {task_id}")
        return row

    def getTaskInfo(self, task_id: Any, request: bool = False, strict: bool = False) -> Any:
        ids = task_id if isinstance(task_id, (list, tuple)) else [task_id]
        out = []
        for tid in ids:
            row = self._row(int(tid), strict)
            out.append(_task_dict(row, request) if row else None)
        return out if isinstance(task_id, (list, tuple)) else out[0]

    def getTaskRequest(self, taskId: int) -> list[Any]:
        row = self._row(int(taskId), strict=True)
        assert row is not None
        return list(loads(row["request"])[0])

    def getTaskResult(self, taskId: int, raise_fault: bool = True) -> Any:
        return self._tasks.result(int(taskId), raise_fault=raise_fault)

    def taskFinished(self, taskId: int) -> bool:
        row = self._row(int(taskId), strict=True)
        assert row is not None
        return row["state"] in FINISHED

    def getTaskChildren(self, task_id: int, request: bool = False, strict: bool = False) -> list[dict[str, Any]]:
        if strict:
            self._row(int(task_id), strict=True)
        rows = self._hub.store.rows("SELECT * FROM tasks WHERE parent = ? ORDER BY id", (int(task_id),))
        return [_task_dict(r, request) for r in rows]

    def getTaskDescendents(self, task_id: int, request: bool = False) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        todo = [int(task_id)]
        while todo:
            tid = todo.pop(0)
            children = self.getTaskChildren(tid, request=request)
            out[str(tid)] = children
            todo += [c["id"] for c in children]
        return out

    def listTasks(self, opts: dict[str, Any] | None = None, queryOpts: dict[str, Any] | None = None) -> Any:
        """Tasks filtered by id-like fields (owner, parent, channel_id, host_id), state, arch and method."""
        opts = dict(opts or {})
        sql = (
            "SELECT t.*, u.name AS owner_name, u.usertype AS owner_type FROM tasks t "
            "LEFT JOIN users u ON u.id = t.owner WHERE 1 = 1"
        )
        params: list[Any] = []
        for key in ("state", "arch"):
            for negate in (False, True):
                name = f"not_{key}" if negate else key
                if name in opts:
                    values = list(opts[name])
                    sql += f" AND t.{key} {'NOT ' if negate else ''}IN ({', '.join('?' * len(values))})"
                    params += values
        for key in ("owner", "parent", "channel_id", "host_id"):
            column = "NULL" if key == "host_id" else f"t.{key}"
            for negate in (False, True):
                name = f"not_{key}" if negate else key
                if name not in opts:
                    continue
                value = opts[name]
                if value is None:
                    sql += f" AND {column} IS {'NOT ' if negate else ''}NULL"
                elif isinstance(value, list):
                    sql += f" AND {column} {'NOT ' if negate else ''}IN ({', '.join('?' * len(value))})"
                    params += value
                else:
                    sql += f" AND {column} {'!=' if negate else '='} ?"
                    params.append(value)
        if "method" in opts:
            sql += " AND t.method = ?"
            params.append(opts["method"])
        tasks = []
        for row in self._hub.store.rows(sql + " ORDER BY t.id", params):
            info = _task_dict(row, request=False)
            info.update(owner_name=row["owner_name"], owner_type=row["owner_type"])
            if opts.get("decode"):
                info["request"] = list(loads(row["request"])[0])
                info["result"] = self._tasks.result(row["id"], raise_fault=False) if row["result"] else None
            else:
                info["request"] = row["request"]
                info["result"] = row["result"]
            tasks.append(info)
        return apply_query_opts(tasks, queryOpts)

    def listTaskOutput(self, taskID: int, stat: bool = False, all_volumes: bool = False, strict: bool = False) -> Any:
        if strict:
            self._row(int(taskID), strict=True)
        workdir = Path(self._hub.pathinfo.task(int(taskID)))
        files = sorted(
            str(Path(root, name).relative_to(workdir)) for root, _, names in os.walk(workdir) for name in names
        )
        if stat:
            out: dict[str, Any] = {}
            for name in files:
                st = (workdir / name).stat()
                info = {
                    "st_size": str(st.st_size),
                    "st_atime": st.st_atime,
                    "st_mtime": st.st_mtime,
                    "st_ctime": st.st_ctime,
                }
                out[name] = {"DEFAULT": info} if all_volumes else info
            return out
        if all_volumes:
            return {name: ["DEFAULT"] for name in files}
        return files
