"""Bus messages in the real shapes of Fedora's publishers, for the listener's tests.

Bodies as published by Bodhi (``update`` is the update's JSON: alias, title, type, severity, request,
release, builds, bugs, user; ``bodhi.compose.composing`` as its composer sends it; Bodhi 2's ``masher.start``),
Koji's fedmsg plugin (``buildsys.tag``) and ResultsDB 2.0 (``resultsdb.result.new``
is the result as the API returns it; ``taskotron.result.new`` the legacy task/result pair); envelopes as fedmsg
1.x builds them (topic, msg, msg_id ``YEAR-uuid4``, i, timestamp, username).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from relengotron_sandbox.koji.tagging import tag_body

PREFIX = "org.fedoraproject.prod"

RELEASES = {
    "f24": {"name": "F24", "long_name": "Fedora 24", "version": "24", "dist": "fc24"},
    "f25": {"name": "F25", "long_name": "Fedora 25", "version": "25", "dist": "fc25"},
}


def koji_tag(tag: str, nvr: str, *, build_id: int = 785412, owner: str = "siddhesh", user: str = "bodhi") -> dict:
    """``buildsys.tag`` as Koji's fedmsg plugin publishes it."""
    return tag_body(tag, nvr, build_id=build_id, owner=owner, user=user)


def bodhi_release(branch: str) -> dict:
    info = RELEASES[branch]
    return {
        "name": info["name"],
        "long_name": info["long_name"],
        "version": info["version"],
        "id_prefix": "FEDORA",
        "branch": branch,
        "dist_tag": branch,
        "stable_tag": f"{branch}-updates",
        "testing_tag": f"{branch}-updates-testing",
        "candidate_tag": f"{branch}-updates-candidate",
        "pending_stable_tag": f"{branch}-updates-pending",
        "pending_testing_tag": f"{branch}-updates-testing-pending",
        "override_tag": f"{branch}-override",
        "state": "current",
        "mail_template": "fedora_errata_template",
    }


def bodhi_update(
    alias: str | None,
    builds: list[str],
    *,
    release: str = "f24",
    request: str | None = "stable",
    update_type: str = "bugfix",
    severity: str = "medium",
    bugs: tuple[int, ...] = (1337140,),
    submitter: str = "siddhesh",
) -> dict:
    """An update as Bodhi 2 serialises it into its messages."""
    return {
        "alias": alias,
        "title": " ".join(builds),
        "type": update_type,
        "severity": severity,
        "suggest": "unspecified",
        "status": "testing",
        "request": request,
        "locked": False,
        "pushed": True,
        "critpath": False,
        "stable_karma": 3,
        "unstable_karma": -3,
        "karma": 1,
        "date_submitted": "2016-06-01 12:00:00",
        "notes": "Fixes a crash.",
        "user": {"name": submitter, "id": 91, "avatar": None},
        "release": bodhi_release(release),
        "builds": [{"nvr": nvr, "epoch": 0, "signed": True} for nvr in builds],
        "bugs": [
            {"bug_id": bug, "title": "crash on start", "security": False, "parent": False, "feedback": 0}
            for bug in bugs
        ],
        "comments": [],
        "url": f"https://bodhi.fedoraproject.org/updates/{alias}",
    }


def bodhi_message(update: dict, agent: str = "bowlofeggs") -> dict:
    """``bodhi.update.request.*`` and ``bodhi.update.complete.*`` bodies."""
    return {"update": update, "agent": agent}


def masher_start(titles: list[str], agent: str = "bowlofeggs") -> dict:
    return {"updates": titles, "resume": False, "agent": agent}


def compose_composing(
    repo: str, updates: list[list[str]], *, agent: str = "bowlofeggs", ctype: str | None = "rpm"
) -> dict:
    """``bodhi.compose.composing`` as Bodhi's composer sends it: one entry per update, its builds' NVRs joined by
    spaces (bodhi-server's ``ComposerThread.work``); ``ctype`` None leaves it out (Bodhi before content types)."""
    body: dict[str, Any] = {"agent": agent, "repo": repo, "updates": [" ".join(builds) for builds in updates]}
    if ctype is not None:
        body["ctype"] = ctype
    return body


def resultsdb_result(
    item: str, testcase: str, outcome: str, *, result_id: int = 1, item_type: str = "koji_build"
) -> dict:
    """``resultsdb.result.new``: the result as ResultsDB's API returns it."""
    base = "https://taskotron.fedoraproject.org/resultsdb_api/api/v2.0"
    return {
        "id": result_id,
        "groups": ["0d7d3fd4-3f57-11e6-9e3c-5254002b5f93"],
        "testcase": {"name": testcase, "href": f"{base}/testcases/{testcase}", "ref_url": None},
        "submit_time": "2016-06-28T10:05:16.157034",
        "outcome": outcome,
        "note": "",
        "ref_url": f"https://taskotron.fedoraproject.org/artifacts/{result_id}/task_output.log",
        "data": {"item": [item], "type": [item_type], "arch": ["x86_64"]},
        "href": f"{base}/results/{result_id}",
    }


def taskotron_result(item: str, name: str, outcome: str, prev_outcome: str | None, *, result_id: int = 1) -> dict:
    """The legacy ``taskotron.result.new``, sent when a check's outcome changed."""
    return {
        "task": {"item": item, "type": "koji_build", "name": name},
        "result": {
            "id": result_id,
            "submit_time": "2016-06-28 10:05:16 UTC",
            "prev_outcome": prev_outcome,
            "outcome": outcome,
            "log_url": f"https://taskotron.fedoraproject.org/artifacts/{result_id}/task_output.log",
        },
    }


def envelope(
    topic: str,
    body: dict,
    *,
    i: int = 1,
    msg_id: str | None = None,
    timestamp: float | None = None,
    username: str = "apache",
    prefix: str = PREFIX,
) -> dict[str, Any]:
    """A fedmsg envelope; ``topic`` is the part after ``<prefix>.<env>.`` (``buildsys.tag``)."""
    return {
        "topic": f"{prefix}.{topic}",
        "msg": body,
        "msg_id": msg_id or f"2016-{uuid.uuid4()}",
        "i": i,
        "timestamp": time.time() if timestamp is None else timestamp,
        "username": username,
    }
