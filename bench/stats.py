"""What a benchmark reports: samples, medians, percentiles and ratios against a baseline measured in the same run.

Pure: no I/O, no clock. A :class:`Metric` is one figure's measurement beside its baseline (the limit it is
compared with, or the naive way it replaces); :class:`Figure` groups the metrics of one numbered figure of
issue 8. Machines are noisy, so a single time means little: every timed value is the median of repeated
samples, and what is read is the ratio to the baseline timed alongside it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


class StatsError(ValueError):
    """A statistic was asked of data that cannot give it (no samples, a percentile outside 0..100)."""


def _clean(samples: Iterable[float], what: str) -> list[float]:
    values = [float(x) for x in samples]
    if not values:
        raise StatsError(f"{what}: no samples")
    bad = [x for x in values if math.isnan(x)]
    if bad:
        raise StatsError(f"{what}: a sample is NaN")
    return values


def median(samples: Iterable[float]) -> float:
    """The median (the mean of the two middle values for an even count)."""
    values = sorted(_clean(samples, "median"))
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def percentile(samples: Iterable[float], p: float) -> float:
    """The ``p``-th percentile (0..100) by linear interpolation between closest ranks (numpy's default)."""
    if not 0 <= p <= 100:
        raise StatsError(f"percentile {p}: must be between 0 and 100")
    values = sorted(_clean(samples, f"p{p:g}"))
    if len(values) == 1:
        return values[0]
    rank = (len(values) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (rank - low)


def ratio(value: float | None, baseline: float | None) -> float | None:
    """``value / baseline``; None when either is missing or the baseline is zero (no ratio to speak of)."""
    if value is None or baseline is None or baseline == 0:
        return None
    return value / baseline


def summary(samples: Sequence[float]) -> dict[str, float | int]:
    """n, median, p50/p95/p99, min and max of ``samples``."""
    values = _clean(samples, "summary")
    return {
        "n": len(values),
        "median": median(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "min": min(values),
        "max": max(values),
    }


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of one call of ``fn`` and what it returned."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


@dataclass
class Metric:
    """One measurement beside its baseline.

    ``value``/``baseline_value`` are medians when samples are given (or counts, rates, bytes). ``ratio`` is
    value / baseline. ``limit`` says what the baseline is to the value: ``"limit"`` (the best achievable: the
    value can only approach it), ``"naive"`` (what the project avoids: the ratio should be small) or
    ``"reference"`` (context only). ``ok`` is None when there is no pass/fail reading; False marks a figure
    that falls short (shown, never hidden).
    """

    name: str
    value: float | None
    unit: str
    baseline: str | None = None
    baseline_value: float | None = None
    kind: str = "reference"
    samples: list[float] = field(default_factory=list)
    baseline_samples: list[float] = field(default_factory=list)
    note: str = ""
    ok: bool | None = None

    @property
    def ratio(self) -> float | None:
        return ratio(self.value, self.baseline_value)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        if self.samples:
            data["summary"] = summary(self.samples)
        if self.baseline_samples:
            data["baseline_summary"] = summary(self.baseline_samples)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metric:
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**fields)


def timed_metric(
    name: str,
    samples: Sequence[float],
    baseline: str | None = None,
    baseline_samples: Sequence[float] = (),
    *,
    kind: str = "reference",
    note: str = "",
    ok: bool | None = None,
    unit: str = "s",
) -> Metric:
    """A metric of repeated timings: the medians of ``samples`` and ``baseline_samples``."""
    return Metric(
        name=name,
        value=median(samples),
        unit=unit,
        baseline=baseline,
        baseline_value=median(baseline_samples) if baseline_samples else None,
        kind=kind,
        samples=[float(s) for s in samples],
        baseline_samples=[float(s) for s in baseline_samples],
        note=note,
        ok=ok,
    )


@dataclass
class Figure:
    """One numbered figure of issue 8: its metrics, the parameters it ran with, notes, and an error if it
    could not be measured (then the rest of the bench still runs)."""

    id: str
    key: str
    title: str
    metrics: list[Metric] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0  # how long measuring it took

    def add(self, metric: Metric) -> Metric:
        self.metrics.append(metric)
        return metric

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "title": self.title,
            "params": self.params,
            "notes": list(self.notes),
            "error": self.error,
            "seconds": self.seconds,
            "metrics": [m.as_dict() for m in self.metrics],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Figure:
        return cls(
            id=str(data["id"]),
            key=str(data["key"]),
            title=str(data["title"]),
            metrics=[Metric.from_dict(m) for m in data.get("metrics", [])],
            params=dict(data.get("params", {})),
            notes=list(data.get("notes", [])),
            error=data.get("error"),
            seconds=float(data.get("seconds", 0.0)),
        )
