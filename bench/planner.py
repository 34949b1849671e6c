"""Figure 5 — planner scale: 2,000 updates x 300 artifacts, planning time and PDC requests.

What is timed is what the ``plan`` task does for a push, minus Koji and the released-manifest reads (figure 3
covers those): :meth:`relengotron.adapters.pdc.PDC.batch_packages` reads every artifact's package list from
the sandbox PDC (real pdc-client over HTTP, pages of 100), then :func:`relengotron.planning.plan` decides
each target. PDC requests are counted by the adapter's response counter.

Baseline: a naive planner asking PDC once per (update, artifact) pair — here for the artifact's component
group (``component-groups/<id>/``). Its 600,000 requests cannot run in a bench; a sample of them is timed
in the same run and the full cost is the sample's median per-request time x the pair count (extrapolated,
said so in the table).
"""

from __future__ import annotations

from bench.core import RunContext
from bench.stats import Figure, Metric, median, timed, timed_metric
from bench.synth import pdc_adapter, pdc_documents, sample_pairs, scenario, serve_pdc


def measure(ctx: RunContext) -> Figure:
    from relengotron.planning import plan

    n_updates, n_artifacts = ctx.size(2000, 200), ctx.size(300, 30)
    repeats = ctx.reps(5, 2)
    sample = ctx.size(1500, 150)
    fig = Figure("5", "planner", "Planner scale: updates x artifacts against PDC")
    fig.params = {"updates": n_updates, "artifacts": n_artifacts, "packages_per_artifact": 60, "repeats": repeats}
    sc = scenario(n_updates, n_artifacts)
    ctx.log(f"planner: {n_updates} updates x {n_artifacts} artifacts, {repeats} repeats")

    with serve_pdc(pdc_documents(sc), ctx.scratch("planner-pdc")) as url:
        pdc_times, plan_times, total_times, requests = [], [], [], []
        recompose = 0
        for _ in range(repeats):
            pdc = pdc_adapter(url)
            try:
                t_pdc, packages = timed(lambda pdc=pdc: pdc.batch_packages(sc.updates, [sc.release], sc.artifacts))
                requests.append(pdc.requests)
            finally:
                pdc.close()
            got = packages[sc.release.id]
            if got != sc.packages:
                raise AssertionError("PDC's component groups did not give back the scenario's package lists")
            t_plan, result = timed(
                lambda got=got: plan(sc.updates, sc.release, sc.artifacts, got, sc.released, sc.base)
            )
            recompose = len(result.recompose)
            pdc_times.append(t_pdc)
            plan_times.append(t_plan)
            total_times.append(t_pdc + t_plan)

        # the naive planner: one request per (update, artifact), sampled
        naive = pdc_adapter(url)
        group_id = {a.name: i for i, a in enumerate(sc.artifacts, start=1)}
        per_request: list[float] = []
        try:
            for _ in range(repeats):
                pairs = sample_pairs(sc, sample)
                before = naive.requests
                t, _ = timed(
                    lambda pairs=pairs: [naive.client["component-groups"][group_id[a.name]]._() for _, a in pairs]
                )
                if naive.requests - before != len(pairs):
                    raise AssertionError(f"naive sample: {naive.requests - before} requests for {len(pairs)} pairs")
                per_request.append(t / len(pairs))
        finally:
            naive.close()

    pairs_total = n_updates * n_artifacts
    naive_totals = [p * pairs_total for p in per_request]
    fig.add(
        Metric(
            "PDC requests per plan",
            float(median(requests)),
            "requests",
            baseline="one per (update, artifact)",
            baseline_value=float(pairs_total),
            kind="naive",
            note=f"{n_artifacts} component groups in pages of 100",
            ok=median(requests) <= -(-n_artifacts // 100) + 1,
        )
    )
    fig.add(
        timed_metric(
            "planning time (PDC + plan)",
            total_times,
            "naive planner (extrapolated)",
            naive_totals,
            kind="naive",
            note=f"naive: {sample} requests timed per repeat x {pairs_total:,} pairs",
        )
    )
    fig.add(timed_metric("of which PDC reads", pdc_times, note=f"{median(requests):.0f} HTTP requests"))
    fig.add(
        timed_metric(
            "of which plan() (pure)",
            plan_times,
            note=f"{n_artifacts} targets, {recompose} to recompose",
        )
    )
    fig.add(
        Metric(
            "naive: one PDC request",
            median(per_request),
            "s",
            note="sandbox PDC on 127.0.0.1 (a real PDC over the network is slower still)",
        )
    )
    return fig
