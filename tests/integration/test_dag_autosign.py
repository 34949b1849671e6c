"""autosign end to end: dag.test() against a whole sandbox, asserting Koji's tags and signatures, the signed RPMs
Koji serves (checked with rpmkeys against the release key, independently of the code under test) and the bus.

The world: f24-signing-pending holds bash-4.3.42-6.fc24 and openssh-7.2p2-10.fc24, f23-signing-pending holds
curl-7.43.0-8.fc23, all unsigned (Koji has only their unsigned entries); sudo-1.8.15-2.fc23 is in f23-updates,
signed with the world key. Every release is signed with the world key, and its chain moves signing-pending →
updates-testing-pending.
"""

from __future__ import annotations

import base64
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import koji
import pytest
import requests
from conftest import load_dag

from relengotron.tools import gpg, rpmsign

pytestmark = pytest.mark.integration

BASH, OPENSSH = "bash-4.3.42-6.fc24", "openssh-7.2p2-10.fc24"
CURL, SUDO = "curl-7.43.0-8.fc23", "sudo-1.8.15-2.fc23"
F24_PENDING, F24_NEXT = "f24-signing-pending", "f24-updates-testing-pending"
F23_PENDING = "f23-signing-pending"
TOPIC = "org.fedoraproject.dev.relengotron.{release}.autosign.signed"


@pytest.fixture
def autosign(airflow_db: Path, airflow_connections: dict[str, Any]) -> Any:
    return load_dag("autosign")


def koji_state(session: koji.ClientSession, nvrs: tuple[str, ...]) -> dict[str, Any]:
    """Each build's tags and, per RPM file, the keys Koji has signatures of (with their hashes)."""
    state: dict[str, Any] = {}
    for nvr in nvrs:
        rpms = session.listRPMs(buildID=session.getBuild(nvr)["id"])
        state[nvr] = {
            "tags": sorted(t["name"] for t in session.listTags(build=nvr)),
            "sigs": {
                f"{r['nvr']}.{r['arch']}": sorted((s["sigkey"], s["sighash"]) for s in session.queryRPMSigs(r["id"]))
                for r in rpms
            },
        }
    return state


def served_copies(session: koji.ClientSession, topurl: str, nvr: str, key: str, dest: Path) -> list[Path]:
    """Download the signed copies of ``nvr``'s RPMs Koji serves for ``key``."""
    pathinfo = koji.PathInfo(topdir=topurl.rstrip("/"))
    build = session.getBuild(nvr)
    out = []
    for rpm in session.listRPMs(buildID=build["id"]):
        answer = requests.get(f"{pathinfo.build(build)}/{pathinfo.signed(rpm, key)}", timeout=10)
        assert answer.status_code == 200, f"{nvr}: no signed copy for {key}: {answer.status_code}"
        path = dest / f"{rpm['nvr']}.{rpm['arch']}.rpm"
        path.write_bytes(answer.content)
        out.append(path)
    return out


def rpmkeys_check(paths: list[Path], public_key: str, dbpath: Path) -> str:
    """``rpmkeys -Kv`` with only ``public_key`` imported; its output (asserting it exits 0)."""
    dbpath.mkdir(exist_ok=True)
    subprocess.run(["rpmkeys", "--dbpath", str(dbpath), "--import", public_key], check=True, capture_output=True)
    proc = subprocess.run(
        ["rpmkeys", "--dbpath", str(dbpath), "-Kv", *map(str, paths)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def bus(endpoints: dict[str, Any], topic: str, settle: float = 1.0) -> list[dict[str, Any]]:
    time.sleep(settle)  # let the relay catch up
    url = endpoints["bus"]["datagrepper"] + "raw"
    answer = requests.get(url, params={"topic": topic, "rows_per_page": 100, "order": "asc"}, timeout=10).json()
    return answer["raw_messages"]


def states(run: Any) -> dict[tuple[str, str], str]:
    """(task id, rendered map index or "") → state, for every task instance of the run."""
    return {(ti.task_id, ti.rendered_map_index or ""): ti.state for ti in run.get_task_instances()}


def xcom(run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=run.run_id, task_ids=task_id, key="return_value")).all()
        return [XComModel.deserialize_value(r) for r in sorted(rows, key=lambda r: r.map_index)]


def test_waiting_builds_are_signed_verified_and_moved_and_a_second_run_changes_nothing(
    autosign: Any, koji_session: koji.ClientSession, airflow_connections: dict[str, Any], tmp_path: Path
) -> None:
    endpoints = airflow_connections
    key, public_key = endpoints["signing"]["key_id"], endpoints["signing"]["public_key"]
    builds = (BASH, OPENSSH)
    before = koji_state(koji_session, builds)
    assert all(b["tags"] == [F24_PENDING] for b in before.values())
    assert {k for b in before.values() for sigs in b["sigs"].values() for k, _ in sigs} == {""}  # unsigned

    # --- a sweep of f24: both builds signed, verified, moved on; one message each -------------------------
    first = autosign.test(run_conf={"release": "f24"})
    assert first.state == "success"
    ran = states(first)
    assert ran[("sign_build", BASH)] == ran[("sign_build", OPENSSH)] == "success"
    assert ran[("publish", BASH)] == ran[("publish", OPENSSH)] == "success"
    assert ran[("summarize", "")] == "success"
    after = koji_state(koji_session, builds)
    for nvr in builds:
        assert after[nvr]["tags"] == [F24_NEXT], nvr
        assert all({k for k, _ in sigs} == {"", key} for sigs in after[nvr]["sigs"].values()), nvr
    assert koji_session.listTagged(F24_PENDING) == []

    served = [p for nvr in builds for p in served_copies(koji_session, endpoints["koji"]["topurl"], nvr, key, tmp_path)]
    assert len(served) == 4  # a src and a noarch RPM per build
    checked = rpmkeys_check(served, public_key, tmp_path / "rpmdb")
    for path in served:
        assert re.search(rf"{re.escape(str(path))}:\n\s+Header V4 RSA/SHA\d+ Signature, key ID \w*{key}: OK", checked)
    assert rpmsign.signing_key_ids(served) == dict.fromkeys(served, key)

    signed = bus(endpoints, TOPIC.format(release="f24"))
    assert sorted(m["msg"]["nvr"] for m in signed) == sorted(builds)
    bash = next(m["msg"] for m in signed if m["msg"]["nvr"] == BASH)
    assert bash["key"] == key and (bash["from_tag"], bash["to_tag"]) == (F24_PENDING, F24_NEXT)
    assert bash["rpms_signed"] == 2 and bash["packages"] == ["bash"] and bash["usernames"] == ["kdudka"]
    assert all(m["msg"]["run_id"] == first.run_id for m in signed)
    assert xcom(first, "summarize")[0]["signed"] == 2

    # --- the same builds named again: both done, Koji unchanged, no message -------------------------------
    second = autosign.test(run_conf={"release": "f24", "builds": list(builds)})
    assert second.state == "success"
    assert koji_state(koji_session, builds) == after
    assert [o["outcome"] for o in xcom(second, "sign_build")] == ["done", "done"]
    assert states(second)[("publish", "")] == "skipped"  # nothing to announce: mapped over no message
    assert len(bus(endpoints, TOPIC.format(release="f24"))) == 2
    summary = xcom(second, "summarize")[0]
    assert (summary["signed"], summary["already_done"], summary["not_done"]) == (0, 2, 0)


def test_a_build_with_an_rpm_signed_by_another_key_stays_put_and_the_run_says_why(
    autosign: Any,
    koji_session: koji.ClientSession,
    airflow_connections: dict[str, Any],
    tmp_path: Path,
    capfd: pytest.CaptureFixture,
) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    endpoints = airflow_connections
    key = endpoints["signing"]["key_id"]
    with pytest.raises(ParamValidationError, match="builds"):
        autosign.test(run_conf={"release": "f23", "builds": ["curl"]})

    # someone signed curl's noarch RPM by hand with another key and imported the signature into Koji
    other = gpg.generate_key(tmp_path / "other-gnupg", "Not The Release Key", "other@example.test")
    build = koji_session.getBuild(CURL)
    noarch = next(r for r in koji_session.listRPMs(buildID=build["id"]) if r["arch"] == "noarch")
    pathinfo = koji.PathInfo(topdir=endpoints["koji"]["topurl"].rstrip("/"))
    copy = tmp_path / "curl.noarch.rpm"
    copy.write_bytes(requests.get(f"{pathinfo.build(build)}/{pathinfo.rpm(noarch)}", timeout=10).content)
    rpmsign.sign_rpms([copy], tmp_path / "other-gnupg", other.fingerprint)
    koji_session.addRPMSig(noarch["id"], base64.b64encode(koji.rip_rpm_sighdr(str(copy))).decode())
    before = koji_state(koji_session, (CURL, SUDO))
    capfd.readouterr()

    run = autosign.test(run_conf={"release": "f23", "builds": [CURL, SUDO]})
    assert run.state == "failed"
    ran = states(run)
    assert ran[("sign_build", CURL)] == "failed"
    assert ran[("sign_build", SUDO)] == "success"  # already signed, out of signing-pending: done
    assert ran[("summarize", "")] == "failed"
    out = capfd.readouterr().out
    assert (
        f"{CURL}: 1 RPM(s) signed with a different key than the release key {key}: "
        f"{CURL}.noarch.rpm (signed with {other.key_id})"
    ) in out
    assert f"not signed (see their sign_build map index for why): {CURL}" in out
    assert koji_state(koji_session, (CURL, SUDO)) == before  # nothing signed, nothing moved
    assert before[CURL]["tags"] == [F23_PENDING]
    assert bus(endpoints, TOPIC.format(release="f23")) == []

    # the dashboard, from what the run recorded in Airflow's database: the refusal with its reason, sudo done
    from relengotron.dashboard import records
    from relengotron.dashboard.signing import autosign_view

    view = autosign_view([f for f in records.latest_runs("autosign") if f.run_id == run.run_id])
    [refused] = view["sections"]["refused"]
    assert refused["nvr"] == CURL and refused["from_tag"] == F23_PENDING
    assert refused["reason"].startswith(f"1 RPM(s) signed with a different key than the release key {key}")
    assert [b["nvr"] for b in view["sections"]["already done"]] == [SUDO]
    assert view["runs"][0]["state"] == "failed" and view["runs"][0]["summary"] is None  # summarize failed
