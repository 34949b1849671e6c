"""Figure 8 — gating: 1,000 pending builds decided; time, Koji calls (multicall batches), ResultsDB requests.

The sandbox Koji hub and ResultsDB run in this process; 1,000 builds of 1,000 packages are added to the
hub's ``rawhide-pending`` tag (rows written into its store as its seeding writes the world's builds: the hub
has no API to create builds) and a ``dist.depcheck`` result posted for each through the ResultsDB API
(one build in 20 FAILED). Then, as the ``rawhide_gating`` DAG's ``list_builds`` and ``decide`` tasks do:
:func:`relengotron.gating_run.gate_candidates` (Koji) and :func:`relengotron.gating_run.decide_gating`
(ResultsDB, the sandbox world's policies). Koji requests are counted per HTTP POST (a multicall is one).

Baselines (naive, measured whole in the same run): a gate asking Koji and ResultsDB once per build —
``getBuild`` for each build listed, one ``/results/latest`` query each — deciding the same plan; and, for
a run that names its builds (a per-build trigger, a rerun), checking 1,000 NVRs with one ``getBuild`` each
against :meth:`KojiClient.builds` (multicalls of 500).

Not measured: the moves that follow (``KojiTagOperator``) are one Koji ``tagBuild`` task per build, as Koji
requires, batched per (from, to) tag in one Airflow task.
"""

from __future__ import annotations

import time
from typing import Any

from bench.core import RunContext
from bench.services import count_koji_requests, koji_client, resultsdb_client, started
from bench.stats import Figure, Metric, median, timed, timed_metric
from bench.world import built_world

FAIL_EVERY = 20


def seed_pending(store: Any, tag: str, build_tag: str, count: int) -> list[str]:
    """Add ``count`` builds (one package each, owned by the world's packagers in turn) to ``tag``; their NVRs."""
    import koji

    with store.transaction():
        event = store.event()
        tags = {
            r["name"]: r["id"] for r in store.rows("SELECT id, name FROM tags WHERE name IN (?, ?)", (tag, build_tag))
        }
        owners = [
            r["id"]
            for r in store.rows("SELECT id FROM users WHERE name NOT IN ('kojiadmin', 'releng', 'autosign', 'bodhi')")
        ]
        admin = store.row("SELECT id FROM users WHERE name = 'kojiadmin'")["id"]
        now = time.time()
        nvrs = []
        for i in range(count):
            name = f"gate{i:04d}"
            owner = owners[i % len(owners)]
            pkg = store.execute("INSERT INTO packages (name) VALUES (?)", (name,)).lastrowid
            store.execute(
                "INSERT INTO tag_packages (tag_id, package_id, owner_id) VALUES (?, ?, ?)",
                (tags[build_tag], pkg, owner),
            )
            build = store.execute(
                "INSERT INTO builds (pkg_id, version, release, epoch, state, owner_id, create_event, start_ts, "
                "completion_ts) VALUES (?, '1.0', '1.fc26', NULL, ?, ?, ?, ?, ?)",
                (pkg, koji.BUILD_STATES["COMPLETE"], owner, event, now, now),
            ).lastrowid
            store.execute(
                "INSERT INTO tag_listing (tag_id, build_id, create_event, creator_id, active) VALUES (?, ?, ?, ?, 1)",
                (tags[tag], build, event, admin),
            )
            nvrs.append(f"{name}-1.0-1.fc26")
    return nvrs


def measure(ctx: RunContext) -> Figure:
    from relengotron.gating import RAWHIDE_GATING, decide, load_policies
    from relengotron.gating.rawhide import GateTags, plan
    from relengotron.gating_run import decide_gating, gate_candidates
    from relengotron_sandbox.releng import render_release_config

    count = ctx.size(1000, 100)
    repeats, naive_repeats = ctx.reps(5, 2), ctx.reps(3, 1)
    fig = Figure("8", "gating", "Gating: pending builds decided")
    fig.params = {"builds": count, "failing": count // FAIL_EVERY, "repeats": repeats, "naive_repeats": naive_repeats}
    world, built = built_world()
    config = render_release_config(world, built.key_id, ctx.scratch("gating-config"))
    release = config.release("rawhide")
    tags = GateTags.of(release)
    policies = load_policies(config.gating_policies)

    with started(ctx.scratch("gating-sandbox"), world, built, ("koji", "resultsdb")) as endpoints:
        hub = endpoints["_services"]["koji"]
        before = {c.nvr for c in _list(endpoints, tags, gate_candidates)}
        nvrs = seed_pending(hub.store, tags.pending, tags.target, count)
        results = resultsdb_client(endpoints)
        try:
            for i, nvr in enumerate(nvrs):
                outcome = "FAILED" if i % FAIL_EVERY == 0 else "PASSED"
                results.post_result("dist.depcheck", outcome, data={"item": nvr, "type": "koji_build"})
        finally:
            results.close()
        ctx.log(f"gating: {count} builds pending, results posted")

        ours, ours_koji, ours_rdb, outcome = [], [], [], None
        for _ in range(repeats):
            koji, rdb = koji_client(endpoints), resultsdb_client(endpoints)
            try:
                counter = count_koji_requests(koji.session)
                seconds, gated = timed(
                    lambda koji=koji, rdb=rdb: decide_gating(
                        rdb, policies, release, gate_candidates(koji, tags).candidates
                    )
                )
                ours.append(seconds)
                ours_koji.append(counter.count)
                ours_rdb.append(rdb.requests)
                outcome = _outcomes(gated)
            finally:
                koji.close()
                rdb.close()
        expected = {
            "promoted": count - len(range(0, count, FAIL_EVERY)),
            "quarantined": len(range(0, count, FAIL_EVERY)),
        }
        got = {k: v for k, v in (outcome or {}).items() if k in expected}
        if got != expected or (outcome or {}).get("total") != count + len(before):
            raise AssertionError(f"gating decided {outcome}, expected {expected} of {count} (+{len(before)} seeded)")

        naive, naive_koji, naive_rdb = [], [], []
        for _ in range(naive_repeats):
            koji, rdb = koji_client(endpoints), resultsdb_client(endpoints)
            try:
                counter = count_koji_requests(koji.session)

                def one_by_one(koji: Any = koji, rdb: Any = rdb) -> Any:
                    candidates = gate_candidates(koji, tags).candidates
                    found: list[dict[str, Any]] = []
                    for c in candidates:
                        koji.call("getBuild", c.nvr, strict=True, item=f"build {c.nvr}")
                        rules = policies.required(RAWHIDE_GATING, release.pdc_release, c.subject)
                        found += rdb.latest([c.nvr], type="koji_build", testcases=[r.test_case_name for r in rules])
                    decision = decide(
                        policies,
                        [c.subject for c in candidates],
                        found,
                        decision_context=RAWHIDE_GATING,
                        product_version=release.pdc_release,
                    )
                    return plan(release.id, tags, candidates, decision)

                seconds, gated = timed(one_by_one)
                if _outcomes(gated) != outcome:
                    raise AssertionError(f"the one-by-one gate decided {_outcomes(gated)}, not {outcome}")
                naive.append(seconds)
                naive_koji.append(counter.count)
                naive_rdb.append(rdb.requests)
            finally:
                koji.close()
                rdb.close()

        # a run naming its builds (already gated ones included): existence checks in Koji
        named, named_calls, single, single_calls = [], [], [], []
        for _ in range(naive_repeats):
            koji = koji_client(endpoints)
            try:
                counter = count_koji_requests(koji.session)
                seconds, found = timed(lambda koji=koji: koji.builds(nvrs))
                assert len(found) == count
                named.append(seconds)
                named_calls.append(counter.count)
                counter.count = 0
                seconds, _ = timed(
                    lambda koji=koji: [koji.call("getBuild", n, strict=True, item=f"build {n}") for n in nvrs]
                )
                single.append(seconds)
                single_calls.append(counter.count)
            finally:
                koji.close()

    fig.add(
        timed_metric(
            f"list + decide {count} builds",
            ours,
            "one Koji + one ResultsDB request per build",
            naive,
            kind="naive",
            note=f"{outcome['promoted']} promoted, {outcome['quarantined']} quarantined (same plan both ways)",
        )
    )
    fig.add(
        Metric(
            "Koji requests (list + decide)",
            float(median(ours_koji)),
            "requests",
            baseline="one per build",
            baseline_value=float(median(naive_koji)),
            kind="naive",
            note="getTag + listTagged of the pending and quarantine tags, whatever the count",
        )
    )
    fig.add(
        Metric(
            "ResultsDB requests",
            float(median(ours_rdb)),
            "requests",
            baseline="one per build",
            baseline_value=float(median(naive_rdb)),
            kind="naive",
            note="/results/latest, 50 items per request",
        )
    )
    fig.add(
        timed_metric(
            f"{count} named builds checked in Koji",
            named,
            "one getBuild per build",
            single,
            kind="naive",
            note=f"{median(named_calls):.0f} multicall request(s) of at most 500 calls vs {median(single_calls):.0f}",
        )
    )
    return fig


def _list(endpoints: dict[str, Any], tags: Any, gate_candidates: Any) -> list[Any]:
    koji = koji_client(endpoints)
    try:
        return list(gate_candidates(koji, tags).candidates)
    finally:
        koji.close()


def _outcomes(gated: Any) -> dict[str, int]:
    counts: dict[str, int] = {"total": len(gated.verdicts)}
    for verdict in gated.verdicts:
        counts[verdict.outcome] = counts.get(verdict.outcome, 0) + 1
    return counts
