"""The bench's output: a table on the terminal (rich) and one JSON file per run under ``bench/results/``.

Each run writes ``<UTC time>-<full|quick>.json``; a run without ``--quick`` also writes ``latest.json`` (the
figures the README quotes). Files are written whole (to a temporary name, then renamed): a run that is
interrupted leaves no half-written result.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.stats import Figure, Metric

SCHEMA = 1
LATEST = "latest.json"


def format_value(value: float | None, unit: str) -> str:
    """A value in its unit, scaled for reading (seconds as µs/ms/s, counts with thousands separators)."""
    if value is None:
        return "—"
    if unit == "s":
        if abs(value) < 1e-3:
            return f"{value * 1e6:.0f} µs"
        if abs(value) < 1:
            return f"{value * 1e3:.1f} ms"
        return f"{value:.2f} s"
    if unit in ("count", "calls", "requests", "composes", "messages"):
        return f"{value:,.0f} {unit}" if unit != "count" else f"{value:,.0f}"
    if unit == "ratio":
        return f"{value:.2f}x"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.2f} {unit}"


def format_ratio(metric: Metric) -> str:
    r = metric.ratio
    if r is None:
        return "—"
    if 0 < r < 0.5:
        return f"{r:.2g}x (1/{1 / r:,.0f})"
    return f"{r:.3g}x" if r < 1000 else f"{r:,.0f}x"


def table(figures: Sequence[Figure], title: str = "releng-o-tron benchmarks") -> Table:
    """Every metric of every figure, one row each, with its baseline and the ratio value / baseline."""
    out = Table(title=title, show_lines=False)
    for column, justify in (
        ("fig", "right"),
        ("measure", "left"),
        ("value", "right"),
        ("baseline", "left"),
        ("baseline value", "right"),
        ("ratio", "right"),
        ("note", "left"),
    ):
        out.add_column(column, justify=justify, overflow="fold")
    for figure in figures:
        if figure.error:
            out.add_row(
                figure.id, f"[red]{escape(figure.title)}: not measured[/red]", "", "", "", "", escape(figure.error)
            )
            continue
        for index, metric in enumerate(figure.metrics):
            flag = "" if metric.ok is not False else "[red]short of its limit[/red] "
            out.add_row(
                figure.id if index == 0 else "",
                escape(metric.name),
                format_value(metric.value, metric.unit),
                escape(metric.baseline or ""),
                format_value(metric.baseline_value, metric.unit) if metric.baseline else "",
                format_ratio(metric),
                flag + escape(metric.note),
            )
        out.add_section()
    return out


def markdown(figures: Sequence[Figure]) -> str:
    """The same rows as :func:`table`, as a Markdown table (for bench/README.md)."""
    rows = ["| fig | measure | value | baseline | baseline value | ratio | note |", "|---|---|---|---|---|---|---|"]

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    for figure in figures:
        if figure.error:
            rows.append(f"| {figure.id} | **{cell(figure.title)}: not measured** | | | | | {cell(figure.error)} |")
            continue
        for index, metric in enumerate(figure.metrics):
            flag = "**short of its limit** " if metric.ok is False else ""
            rows.append(
                "| "
                + " | ".join(
                    [
                        figure.id if index == 0 else "",
                        cell(metric.name),
                        format_value(metric.value, metric.unit),
                        cell(metric.baseline or ""),
                        format_value(metric.baseline_value, metric.unit) if metric.baseline else "",
                        format_ratio(metric),
                        flag + cell(metric.note),
                    ]
                )
                + " |"
            )
    return "\n".join(rows) + "\n"


def print_table(figures: Sequence[Figure], console: Console | None = None) -> None:
    console = console or Console()
    console.print(table(figures))
    for figure in figures:
        for note in figure.notes:
            console.print(f"[dim]fig {figure.id}:[/dim] {escape(note)}")


def document(run: Mapping[str, Any], figures: Sequence[Figure]) -> dict[str, Any]:
    """The JSON form of one run: its facts (``run``) and every figure."""
    return {"schema": SCHEMA, "run": dict(run), "figures": [f.as_dict() for f in figures]}


def read_document(path: Path) -> tuple[dict[str, Any], list[Figure]]:
    """A result file back as (run facts, figures); ValueError naming the file when it is not one."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a bench result: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or "figures" not in data:
        raise ValueError(f"{path}: not a bench result of schema {SCHEMA}")
    return dict(data["run"]), [Figure.from_dict(f) for f in data["figures"]]


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(
    directory: Path, stamp: str, run: Mapping[str, Any], figures: Sequence[Figure], *, every: bool = True
) -> list[Path]:
    """Write ``<stamp>-<full|quick>.json`` (and ``latest.json`` for a full-size run of ``every`` figure: a run of
    some figures never replaces the last complete one); the paths written.

    Idempotent for one stamp: writing again replaces the same file.
    """
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document(run, figures), indent=1, sort_keys=False) + "\n"
    name = f"{stamp}-{'quick' if run.get('quick') else 'full'}.json"
    written = [directory / name]
    _write(written[0], text)
    if every and not run.get("quick"):
        written.append(directory / LATEST)
        _write(written[1], text)
    return written
