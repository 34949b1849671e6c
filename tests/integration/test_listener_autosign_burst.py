"""Issue 6's last acceptance line: a burst of 2,000 ``buildsys.tag`` events into f24-signing-pending, through the
listener with the shipped rules (only the autosign window shortened), becomes at most a handful of autosign runs
in a real Airflow (DAGs paused: the runs only queue); executed in order with the real autosign DAG against the
same sandbox, those runs sign every waiting build exactly once.

The burst, all on the sandbox bus as Koji's fedmsg plugin publishes it, in three parts (each starts once the
part before has become runs, so that no window mixes them):

1. the builds really waiting in f24-signing-pending (read from Koji), tagged again and again;
2. a mass rebuild of distinct synthetic NVRs, each tagged once: every one must land in exactly one run's conf;
3. the real builds once more: their second run names builds the first one has already signed.

Only the runs of parts 1 and 3 are executed (a synthetic NVR is no build Koji knows, so its conf cannot run);
Koji's signature records, the bus archive and the runs' summaries then show each real build signed once.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import koji
import pytest
import requests
import yaml
from conftest import load_dag
from listener_harness import REPO, Airflow, Listener, airflow, write_listener
from listener_samples import koji_tag

from relengotron.autosign import MAX_BUILDS
from relengotron.messaging import FedmsgPublisher, load_fedmsg_config
from relengotron_sandbox.testing import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

PENDING, NEXT = "f24-signing-pending", "f24-updates-testing-pending"
WINDOW = 4.0  # seconds: the shipped rule's 30 s, shortened to test pace
REAL_EVENTS = 250  # per real part: the K waiting builds in turn
# distinct NVRs of the mass rebuild: more than one autosign run may take (its Params allow 1,000 builds), so the
# batch rule's max_items closes the window early and the rest go in the next run
SYNTHETIC = 1500
SIGNED_TOPIC = "org.fedoraproject.dev.relengotron.f24.autosign.signed"


def shipped_rules(window: float) -> dict[str, Any]:
    """config/listener-rules.yaml as shipped, the autosign rule's batch window set to ``window`` seconds."""
    rules = yaml.safe_load((REPO / "config" / "listener-rules.yaml").read_text())
    (autosign,) = [r for r in rules["rules"] if r["dag_id"] == "autosign"]
    autosign["batch"]["window_seconds"] = window
    return rules


def waiting_builds(session: koji.ClientSession) -> list[dict[str, Any]]:
    """The real builds in f24-signing-pending, by NVR."""
    return sorted(session.listTagged(PENDING), key=lambda b: b["nvr"])


def key_signatures(session: koji.ClientSession, nvr: str, key: str) -> dict[str, int]:
    """Per RPM of ``nvr``: how many signature records of ``key`` Koji holds."""
    rpms = session.listRPMs(buildID=session.getBuild(nvr)["id"])
    return {
        f"{r['nvr']}.{r['arch']}": sum(s["sigkey"] == key for s in session.queryRPMSigs(rpm_id=r["id"])) for r in rpms
    }


def signed_messages(endpoints: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ``autosign.signed`` message of f24 in the bus archive (datagrepper /raw), oldest first."""
    url = endpoints["bus"]["datagrepper"] + "raw"
    params = {"topic": SIGNED_TOPIC, "rows_per_page": 100, "order": "asc"}
    return requests.get(url, params=params, timeout=10).json()["raw_messages"]


def run_nvrs(runs: list[dict[str, Any]]) -> set[str]:
    return {nvr for run in runs for nvr in run["conf"]["builds"]}


def publish_part(
    publisher: FedmsgPublisher,
    events: list[dict[str, Any]],
    deployment: Airflow,
    listener: Listener,
    known: set[str],
) -> list[dict[str, Any]]:
    """Publish ``events`` (buildsys.tag bodies) as fast as fedmsg sends; wait until every NVR among them is in
    the conf of a run created since (``known``: the run ids there before) and the listener holds nothing
    pending, so that the next part opens a window of its own. The new runs, in creation order."""
    for body in events:
        publisher.publish("buildsys", "tag", body)
    wanted = {f"{b['name']}-{b['version']}-{b['release']}" for b in events}

    def new_runs() -> list[dict[str, Any]]:
        return [r for r in deployment.runs("autosign", "autosign__") if r["dag_run_id"] not in known]

    wait_for(f"runs naming the {len(wanted)} NVRs published", lambda: wanted <= run_nvrs(new_runs()), 90, every=0.5)
    wait_for(
        "nothing pending in the listener",
        lambda: listener.alive() and listener.metrics()["relengotron_listener_pending"] == 0,
        60,
        every=0.5,
    )
    runs = new_runs()
    known.update(r["dag_run_id"] for r in runs)
    return runs


def test_2000_tag_events_become_a_handful_of_runs_that_sign_every_build_once(
    airflow_db: Path, airflow_connections: dict[str, Any], koji_session: koji.ClientSession, tmp_path: Path
) -> None:
    endpoints = airflow_connections
    key = endpoints["signing"]["key_id"]
    real = waiting_builds(koji_session)
    real_nvrs = [b["nvr"] for b in real]
    assert len(real) >= 2, f"the world should have builds waiting in {PENDING}: {real_nvrs}"
    for nvr in real_nvrs:  # unsigned, waiting
        assert set(key_signatures(koji_session, nvr, key).values()) == {0}, nvr
        assert [t["name"] for t in koji_session.listTags(build=nvr)] == [PENDING], nvr

    def real_events(count: int) -> list[dict[str, Any]]:
        return [
            koji_tag(PENDING, b["nvr"], build_id=b["build_id"], owner=b["owner_name"], user="bodhi")
            for b in (real[n % len(real)] for n in range(count))
        ]

    synthetic = [f"massrebuild-pkg{n:04d}-1.0-2.fc24" for n in range(SYNTHETIC)]
    mass_rebuild = [
        koji_tag(PENDING, nvr, build_id=900_000 + n, owner="releng", user="releng") for n, nvr in enumerate(synthetic)
    ]

    started = time.monotonic()
    with airflow(tmp_path / "airflow") as deployment:
        ready = time.monotonic()
        listener = write_listener(
            tmp_path / "listener",
            airflow=deployment,
            bus=endpoints["bus"],
            rules=shipped_rules(WINDOW),
            release_config=endpoints["releng"]["config"],  # the sandbox's releases: the rules' tags come from it
        )
        publisher = FedmsgPublisher(load_fedmsg_config(endpoints["bus"]["fedmsg_config"]))
        try:
            listener.start()
            known: set[str] = set()
            burst_started = time.monotonic()
            parts = [
                publish_part(publisher, real_events(REAL_EVENTS), deployment, listener, known),
                publish_part(publisher, mass_rebuild, deployment, listener, known),
                publish_part(publisher, real_events(REAL_EVENTS), deployment, listener, known),
            ]
            burst = time.monotonic() - burst_started
            runs = deployment.runs("autosign", "autosign__")
            status = listener.status()
            metrics = listener.metrics()
        finally:
            publisher.close()
            listener.stop()
    after_airflow = time.monotonic()

    # --- the listener's side: a handful of runs, each NVR of the mass rebuild in exactly one of them ---------
    sent = 2 * REAL_EVENTS + SYNTHETIC
    assert sent == 2000
    per_run = [len(r["conf"]["builds"]) for r in runs]
    named = Counter(nvr for r in runs for nvr in r["conf"]["builds"])
    repeated_synthetic = sorted(n for n in synthetic if named[n] > 1)
    print(
        f"\n[autosign burst] Airflow up in {ready - started:.1f} s; {sent} tag events ({2 * REAL_EVENTS} of the "
        f"{len(real)} real waiting builds, {SYNTHETIC} distinct synthetic) published in {burst:.1f} s with a "
        f"{WINDOW:.0f} s window → {len(runs)} autosign runs; NVRs per run: {per_run}; duplicates across runs "
        f"(distinct NVRs in more than one run): {len(repeated_synthetic)}; runs naming each real build: "
        f"{[named[n] for n in real_nvrs]}; dead letters: {status['dead_letters_total']}"
    )
    assert [r["dag_run_id"] for r in runs] == [r["dag_run_id"] for p in parts for r in p]  # all from this burst
    assert len(runs) <= 5, per_run
    assert max(per_run) <= MAX_BUILDS and len(parts[1]) == 2, per_run  # the mass rebuild: a full run, then the rest
    assert all(r["state"] == "queued" and r["conf"]["release"] == "f24" for r in runs)
    assert all(len(set(r["conf"]["builds"])) == len(r["conf"]["builds"]) for r in runs)  # deduplicated per batch
    assert set(named) == set(real_nvrs) | set(synthetic)  # nothing lost, nothing invented
    assert repeated_synthetic == []  # each distinct NVR in exactly one run
    assert status["dead_letters_total"] == 0 and status["open_batches"] == 0
    assert metrics['relengotron_listener_triggered_total{answer="created",dag_id="autosign"}'] == len(runs)
    # parts 1 and 3 made runs of the real builds only, each naming every one of them once
    executable = [r for p in (parts[0], parts[2]) for r in p]
    assert all(set(r["conf"]["builds"]) <= set(real_nvrs) for r in executable)
    assert run_nvrs(parts[0]) == run_nvrs(parts[2]) == set(real_nvrs)
    assert all(not set(r["conf"]["builds"]) & set(real_nvrs) for r in parts[1])

    # --- their confs executed in order with the real autosign DAG: each real build signed exactly once --------
    autosign = load_dag("autosign")
    summaries = []
    for queued in executable:
        run = autosign.test(run_conf=queued["conf"])
        assert run.state == "success", queued["conf"]
        summaries.append(run.get_task_instance("summarize").xcom_pull(task_ids="summarize"))
    executed = time.monotonic()

    signed_by_run = [s["builds"]["signed"] for s in summaries]
    done_by_run = [s["builds"]["already_done"] for s in summaries]
    assert sorted(n for signed in signed_by_run for n in signed) == real_nvrs  # each signed by one run only
    earlier: set[str] = set()
    for queued, signed, done in zip(executable, signed_by_run, done_by_run, strict=True):
        # a run signs the builds no earlier run named, and reports the others done
        named_here = set(queued["conf"]["builds"])
        assert (signed, done) == (sorted(named_here - earlier), sorted(named_here & earlier)), queued["dag_run_id"]
        earlier |= named_here
    assert not any(signed_by_run[len(parts[0]) :])  # part 3's runs: every build done already
    assert all(s["not_done"] == 0 and s["left_for_next_run"] == 0 for s in summaries)
    for nvr in real_nvrs:
        assert set(key_signatures(koji_session, nvr, key).values()) == {1}, nvr  # one record per RPM
        assert [t["name"] for t in koji_session.listTags(build=nvr)] == [NEXT], nvr
    assert koji_session.listTagged(PENDING) == []
    wait_for("the autosign.signed messages archived", lambda: len(signed_messages(endpoints)) >= len(real), 10)
    time.sleep(1)  # one more than expected would have reached the archive by now
    messages = signed_messages(endpoints)
    assert Counter(m["msg"]["nvr"] for m in messages) == Counter(real_nvrs)
    assert {m["msg"]["key"] for m in messages} == {key}
    print(
        f"[autosign burst] {len(executable)} runs executed in {executed - after_airflow:.1f} s: signed per run "
        f"{[len(s) for s in signed_by_run]}, already done per run {[len(d) for d in done_by_run]}; "
        f"autosign.signed messages: {len(messages)} for {len(real)} builds; total {executed - started:.1f} s"
    )
