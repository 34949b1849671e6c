"""The chaos run's pure parts: the seeded plan (replayable, spread over targets and time), the recovery figures,
and the invariants that need no running stack."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest

from relengotron_sandbox.chaos import invariants
from relengotron_sandbox.chaos.plan import MIN_GAP, Fault, Outcome, plan, recovery_figures, targets_for
from relengotron_sandbox.chaos.watch import MirrorLooks


def test_the_same_seed_gives_the_same_plan_and_another_seed_another() -> None:
    targets = targets_for("local")
    assert plan(7, 20, targets, 400) == plan(7, 20, targets, 400)
    assert plan(7, 20, targets, 400) != plan(8, 20, targets, 400)


def test_a_plan_hits_every_target_once_before_any_twice_at_moments_apart() -> None:
    targets = targets_for("local")
    faults = plan(3, 20, targets, 400)
    names = [f.target.name for f in faults]
    assert sorted(names[: len(targets)]) == sorted(t.name for t in targets)
    assert [f.index for f in faults] == list(range(1, 21))
    assert all(b.at - a.at >= MIN_GAP - 0.1 for a, b in pairwise(faults))
    assert all(f.at <= 400 for f in faults)
    stops = [f for f in faults if f.target.action == "stop"]
    assert stops and all(5 <= f.down <= 20 for f in stops)
    assert all(f.down == 0 for f in faults if f.target.action == "kill")


def test_targets_are_per_executor_and_an_unknown_one_is_named() -> None:
    assert "celery worker" not in {t.name for t in targets_for("local")}
    assert "celery worker" in {t.name for t in targets_for("celery")}
    assert [t.name for t in targets_for("local", ["listener", "koji"])] == ["listener", "koji"]
    with pytest.raises(ValueError, match="no such fault target on local: broker"):
        targets_for("local", ["listener", "broker"])
    with pytest.raises(ValueError, match="too short"):
        plan(1, 20, targets_for("local"), 20)


def test_recovery_figures_are_per_component_over_the_faults_that_struck_and_recovered() -> None:
    [scheduler, listener] = targets_for("local", ["scheduler", "listener"])
    outcomes = [
        Outcome(Fault(1, scheduler, 10), struck=10, recovered=8.0),
        Outcome(Fault(2, scheduler, 20), struck=30, recovered=12.0),
        Outcome(Fault(3, scheduler, 30), struck=50, recovered=30.0),
        Outcome(Fault(4, listener, 40), struck=90, recovered=2.0),
        Outcome(Fault(5, listener, 50), note="not struck: its moment did not come"),
        Outcome(Fault(6, listener, 60), struck=120, recovered=None, note="did not recover"),
    ]
    assert recovery_figures(outcomes) == {
        "airflow scheduler": {"survived": 3, "median_s": 12.0, "max_s": 30.0},
        "listener": {"survived": 1, "median_s": 2.0, "max_s": 2.0},
    }


def test_the_mirror_invariant_counts_looks_and_fails_on_a_served_problem() -> None:
    looks = MirrorLooks(looks=10, checked=500, served=set(), transient={"a: missing"})
    held = invariants.mirror(looks)
    assert held.held and held.count == "10 looks, 500 named files checked, 1 transient"
    looks.served.add("updates/24/x86_64/repodata/repomd.xml: primary.xml.gz missing")
    assert invariants.mirror(looks).problems == (
        "served: updates/24/x86_64/repodata/repomd.xml: primary.xml.gz missing",
    )
    assert not invariants.mirror(MirrorLooks()).held  # never looked: not a pass


def test_a_lease_left_in_the_staging_tree_is_named(tmp_path: Path) -> None:
    assert invariants.leases(tmp_path).held
    locks = tmp_path / ".relengotron" / "locks"
    locks.mkdir(parents=True)
    (locks / "updates_push-f24-stable.json").write_text(json.dumps({"owner": "push-1"}))
    held = invariants.leases(tmp_path)
    assert not held.held and "updates_push-f24-stable.json" in held.problems[0] and "push-1" in held.problems[0]


def test_the_gate_spreads_the_acts_over_the_faults_and_keeps_two_for_the_last_act() -> None:
    import threading
    from types import SimpleNamespace

    from relengotron_sandbox.chaos.run import Controller
    from relengotron_sandbox.chaos.workload import ACTS

    [listener] = targets_for("local", ["listener"])
    faults = [Fault(i, listener, float(i)) for i in range(1, 23)]
    hurt = SimpleNamespace(awaiting=threading.Event())
    controller = Controller(faults, hurt)  # type: ignore[arg-type]
    running = threading.Event()
    controller._thread = threading.Thread(target=running.wait, daemon=True)
    controller._thread.start()
    gate = controller.gate(ACTS)

    def playable() -> list[int]:
        return [index for index, act in enumerate(ACTS) if gate(act)]

    try:
        assert len(ACTS) == 6 and playable() == [0]
        controller.outcomes = [Outcome(f) for f in faults[:4]]  # 4 of 22 done: act 1 needs 4 (20 spread over 5)
        assert playable() == [0, 1]
        hurt.awaiting.set()  # a fault waits for a compose: one act more
        assert playable() == [0, 1, 2]
        hurt.awaiting.clear()
        controller.outcomes = [Outcome(f) for f in faults[:19]]
        assert playable() == [0, 1, 2, 3, 4]
        controller.outcomes = [Outcome(f) for f in faults[:20]]  # the last act: two faults left to strike in it
        assert playable() == [0, 1, 2, 3, 4, 5]
    finally:
        running.set()
        controller._thread.join()
    controller.outcomes = []
    assert playable() == [0, 1, 2, 3, 4, 5]  # the plan over: everything
