"""``python -m bench [--quick] [--only KEY[,KEY]] [--repeats N] [--out DIR]`` (``make bench`` runs it whole).

Measures the figures of issue 8, prints them as a table and writes the run as JSON under ``bench/results/``.
Exits 1 when a figure could not be measured (its error is in the table and the JSON), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.core import FIGURES, REPO, RUN_ORDER, FigureSpec, RunContext, measure, spec

DEFAULT_OUT = REPO / "bench" / "results"


@dataclass(frozen=True)
class Options:
    quick: bool
    figures: tuple[FigureSpec, ...]  # in run order
    repeats: int | None
    out: Path
    list_only: bool
    markdown: Path | None = None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def parser() -> argparse.ArgumentParser:
    known = ", ".join(f"{f.id}={f.key}" for f in FIGURES)
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats (about a minute)")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="KEY",
        help=f"measure only these figures (comma-separated keys or numbers; repeatable): {known}",
    )
    p.add_argument("--repeats", type=_positive, help="repeat every timing this many times (default: per figure)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where results go (default {DEFAULT_OUT})")
    p.add_argument("--list", action="store_true", dest="list_only", help="list the figures and exit")
    p.add_argument("--markdown", type=Path, metavar="RESULT", help="print a result file as a Markdown table and exit")
    return p


def parse_args(argv: Sequence[str]) -> Options:
    """The options of ``argv``; an unknown figure or a bad number exits 2 with argparse's message naming it."""
    p = parser()
    args = p.parse_args(list(argv))
    wanted: list[str] = [k.strip() for item in args.only for k in item.split(",") if k.strip()]
    chosen: set[str] = set()
    for key in wanted:
        try:
            chosen.add(spec(key).key)
        except KeyError as exc:
            p.error(f"--only: {exc.args[0]}")
    order = [spec(key) for key in RUN_ORDER]
    figures = tuple(f for f in order if not chosen or f.key in chosen)
    return Options(
        quick=args.quick,
        figures=figures,
        repeats=args.repeats,
        out=args.out.absolute(),
        list_only=args.list_only,
        markdown=args.markdown,
    )


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    return out.stdout.strip() or None


def run_facts(options: Options, started: datetime) -> dict[str, Any]:
    return {
        "started": started.isoformat(timespec="seconds"),
        "quick": options.quick,
        "figures": [f.key for f in options.figures],
        "repeats": options.repeats,
        "argv": sys.argv[1:],
        "commit": _git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_before": list(os.getloadavg()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(sys.argv[1:] if argv is None else argv)
    from bench.report import markdown, print_table, read_document, write_results

    if options.markdown is not None:
        try:
            facts, figures = read_document(options.markdown)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
        kind = "quick" if facts.get("quick") else "full"
        print(f"{kind} run of {facts.get('started')} ({facts.get('seconds')} s, commit {facts.get('commit')})\n")
        print(markdown(figures), end="")
        return 0
    if options.list_only:
        for figure in FIGURES:
            print(f"{figure.id:>2}  {figure.key:<20} {figure.title}")
        return 0
    started = datetime.now(UTC)
    facts = run_facts(options, started)
    workdir = Path(tempfile.mkdtemp(prefix="relengotron-bench-"))
    console = Console(width=None if sys.stdout.isatty() else 160)
    ctx = RunContext(quick=options.quick, workdir=workdir, repeats=options.repeats, console=console)
    results = []
    clock = time.perf_counter()
    try:
        for figure in options.figures:
            ctx.log(f"fig {figure.id}: {figure.title}")
            result = measure(figure, ctx)
            ctx.log(f"fig {figure.id}: done in {result.seconds:.1f} s")
            results.append(result)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    facts["seconds"] = round(time.perf_counter() - clock, 1)
    facts["load_after"] = list(os.getloadavg())
    results.sort(key=lambda f: int(f.id))
    print_table(results, ctx.console)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    every = len(options.figures) == len(FIGURES)
    for path in write_results(options.out, stamp, facts, results, every=every):
        ctx.console.print(f"wrote {path}")
    failed = [f for f in results if f.error]
    if failed:
        ctx.console.print(f"[red]{len(failed)} figure(s) not measured: {', '.join(f.key for f in failed)}[/red]")
        return 1
    return 0
