"""The bench's pure parts: statistics, the table and JSON writer, argument parsing, the critical-path arithmetic."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is run from the repository root (python -m bench); it is not installed
    sys.path.insert(0, str(REPO))

from bench import cli, report  # noqa: E402
from bench.commands import tool_name  # noqa: E402
from bench.critical_path import critical_path, longest_chain, serial_sum  # noqa: E402
from bench.stats import Figure, Metric, StatsError, median, percentile, ratio, summary, timed_metric  # noqa: E402

# --- statistics -------------------------------------------------------------------------------------------


def test_median_of_odd_and_even_counts() -> None:
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5
    assert median([7]) == 7


@pytest.mark.parametrize(("p", "expected"), [(0, 1.0), (50, 2.5), (95, 3.85), (99, 3.97), (100, 4.0)])
def test_percentiles_interpolate_between_closest_ranks(p: float, expected: float) -> None:
    assert percentile([4, 1, 3, 2], p) == pytest.approx(expected)


def test_percentiles_of_many_samples() -> None:
    samples = list(range(1, 101))
    assert percentile(samples, 50) == pytest.approx(50.5)
    assert percentile(samples, 99) == pytest.approx(99.01)
    assert summary(samples)["p95"] == pytest.approx(95.05)
    assert summary(samples)["n"] == 100


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: median([]), "no samples"),
        (lambda: percentile([1.0], 101), "between 0 and 100"),
        (lambda: percentile([], 50), "no samples"),
        (lambda: median([1.0, float("nan")]), "NaN"),
    ],
)
def test_bad_statistics_are_refused_by_name(call, message: str) -> None:
    with pytest.raises(StatsError, match=message):
        call()


def test_ratio_is_value_over_baseline_and_none_without_one() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 0.0) is None
    assert ratio(None, 2.0) is None
    assert ratio(1.0, None) is None


def test_a_timed_metric_reports_medians_and_its_ratio() -> None:
    metric = timed_metric("push", [3.0, 1.0, 2.0], "compose all", [8.0, 6.0, 4.0, 10.0], kind="naive")
    assert (metric.value, metric.baseline_value) == (2.0, 7.0)
    assert metric.ratio == pytest.approx(2 / 7)
    data = metric.as_dict()
    assert data["ratio"] == pytest.approx(2 / 7)
    assert data["summary"]["median"] == 2.0 and data["baseline_summary"]["n"] == 4


# --- the table and the JSON files -----------------------------------------------------------------------------


def figures() -> list[Figure]:
    good = Figure("5", "planner", "Planner scale", params={"updates": 2000})
    good.add(Metric("PDC requests", 3.0, "requests", "one per pair", 600_000.0, kind="naive", ok=True))
    good.add(timed_metric("time [s]", [0.2, 0.3], "naive", [500.0]))
    short = Figure("4", "critical-path", "Critical path")
    short.add(Metric("end to end", 24.0, "s", "critical path", 10.0, kind="limit", ok=False, note="serial runner"))
    broken = Figure("1", "listener-latency", "Listener latency", error="RuntimeError: no listener")
    return [good, short, broken]


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.0000123, "s", "12 µs"),
        (0.0123, "s", "12.3 ms"),
        (12.345, "s", "12.35 s"),
        (600000.0, "requests", "600,000 requests"),
        (None, "s", "—"),
        (1234.5, "msg/s", "1,234 msg/s"),
        (12.5, "MiB", "12.50 MiB"),
    ],
)
def test_values_are_formatted_in_their_unit(value, unit: str, text: str) -> None:
    assert report.format_value(value, unit) == text


def test_the_table_shows_every_metric_its_baseline_ratio_shortfall_and_errors() -> None:
    from rich.console import Console

    console = Console(record=True, width=220)
    console.print(report.table(figures()))
    text = console.export_text()
    assert "PDC requests" in text and "600,000 requests" in text and "(1/200,000)" in text
    assert "time [s]" in text  # square brackets are text, not rich markup
    assert "short of its limit" in text and "2.4x" in text
    assert "Listener latency: not measured" in text and "RuntimeError: no listener" in text


def test_the_markdown_table_has_a_row_per_metric_and_flags_shortfalls() -> None:
    text = report.markdown(figures())
    lines = text.splitlines()
    assert lines[0].startswith("| fig | measure |") and len(lines) == 2 + 4
    assert "| 5 | PDC requests | 3 requests | one per pair | 600,000 requests |" in text
    assert "**short of its limit** serial runner" in text
    assert "**Listener latency: not measured**" in text


def test_a_full_run_writes_its_file_and_latest_a_quick_run_only_its_file(tmp_path: Path) -> None:
    run = {"started": "2026-11-25T10:00:00+00:00", "quick": False}
    written = report.write_results(tmp_path, "20261125T100000Z", run, figures())
    assert [p.name for p in written] == ["20261125T100000Z-full.json", "latest.json"]
    assert written[0].read_text() == written[1].read_text()
    facts, back = report.read_document(written[1])
    assert facts == run
    assert [f.as_dict() for f in back] == [f.as_dict() for f in figures()]
    quick = report.write_results(tmp_path, "20261125T110000Z", {**run, "quick": True}, figures()[:1])
    assert [p.name for p in quick] == ["20261125T110000Z-quick.json"]
    assert report.read_document(tmp_path / "latest.json")[0]["quick"] is False  # untouched by the quick run
    some = report.write_results(tmp_path, "20261125T120000Z", run, figures()[:1], every=False)
    assert [p.name for p in some] == ["20261125T120000Z-full.json"]  # a run of some figures: its file only
    assert len(report.read_document(tmp_path / "latest.json")[1]) == len(figures())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_a_file_that_is_not_a_result_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"figures": []}))
    with pytest.raises(ValueError, match=r"other\.json"):
        report.read_document(path)


# --- arguments --------------------------------------------------------------------------------------------


def test_every_figure_runs_by_default_in_run_order() -> None:
    options = cli.parse_args([])
    assert [f.id for f in options.figures] == ["5", "6", "7", "8", "9", "11", "3", "4", "10", "1", "2"]
    assert not options.quick and options.repeats is None
    assert options.out == cli.DEFAULT_OUT


def test_only_takes_keys_and_numbers_comma_separated_or_repeated(tmp_path: Path) -> None:
    options = cli.parse_args(
        ["--quick", "--only", "planner,7", "--only", "1", "--repeats", "3", "--out", str(tmp_path)]
    )
    assert [f.key for f in options.figures] == ["planner", "ostree", "listener-latency"]
    assert options.quick and options.repeats == 3 and options.out == tmp_path


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--only", "nonsense"], "no figure 'nonsense'"), (["--repeats", "0"], "0 is not at least 1")],
)
def test_bad_arguments_exit_2_naming_what_is_wrong(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.parse_args(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


# --- the critical path of a run ----------------------------------------------------------------------------


def test_the_critical_path_follows_each_map_index_through_its_group() -> None:
    tasks = {
        "plan": {"upstream": [], "group": None},
        "g.compose": {"upstream": ["plan"], "group": "g"},
        "g.promote": {"upstream": ["g.compose"], "group": "g"},
        "sync": {"upstream": ["g.promote"], "group": None},
    }

    def ti(task: str, index: int, start: float, end: float, label: str | None = None) -> dict:
        return {"task_id": task, "map_index": index, "start": start, "end": end, "label": label}

    instances = [
        ti("plan", -1, 0, 1),
        ti("g.compose", 0, 1, 5, "slow"),  # 4 s
        ti("g.compose", 1, 5, 6, "fast"),  # 1 s
        ti("g.promote", 0, 6, 7, "slow"),  # 1 s: chain 5 s
        ti("g.promote", 1, 7, 10, "fast"),  # 3 s: chain 4 s
        ti("sync", -1, 10, 12),
    ]
    length, path = critical_path(tasks, instances)
    assert length == pytest.approx(1 + 4 + 1 + 2)  # plan → compose[slow] → promote[slow] → sync, not a cross path
    assert path == ["plan", "g.compose[slow]", "g.promote[slow]", "sync"]
    assert longest_chain(instances) == (pytest.approx(5.0), "slow")
    assert serial_sum(instances) == pytest.approx(12.0)


def test_the_tool_of_a_command_line_is_what_it_runs() -> None:
    assert tool_name(["/usr/bin/ostree", "commit", "--repo=x"]) == "ostree"
    assert tool_name(["sh", "-c", 'exec "$0" "$1" > "$2"', "rpm2cpio", "a.rpm", "a.cpio"]) == "rpm2cpio"
    assert tool_name("gpg --batch") == "gpg"
