"""The results: one table row per target, the machine, and the one-line `BENCH {json}`."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Row:
    """One target, checked one of three ways (`check`), or a reference that checks nothing.

    ratio: ours/baseline <= target. The baseline is, where one can be measured, a floor: what a
    part we chose costs on its own (the least the row can be while that part stays), run in the
    same rounds. at_most: ours <= target (the baseline is shown for scale). exactly: ours ==
    target (counts of AWS calls or HTTP requests: behaviour, not timing).
    reference: no target; measured in the same rounds for scale (e.g. the SDK alone, in process).

    The ratio is ours/baseline (their medians), unless `paired` gives the median of the ratios
    of each round's pair: for few, long, noisy samples (whole processes), where a burst of load
    lands on both members of a pair but not on every round alike.
    """

    metric: str
    ours: float
    baseline: float | None
    unit: str
    target: float | None
    check: Literal["ratio", "at_most", "exactly", "reference"] = "ratio"
    paired: float | None = None

    @classmethod
    def reference(cls, metric: str, ours: float, baseline: float, unit: str, *, paired: float | None = None) -> Row:
        """A row with no target, beside the target it puts in context."""
        return cls(metric, ours, baseline, unit, None, "reference", paired)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None:
            return None
        if self.paired is not None:
            return self.paired
        return self.ours / self.baseline if self.baseline > 0 else float("inf")

    @property
    def met(self) -> bool | None:
        if self.target is None or self.check == "reference":
            return None
        if self.check == "exactly":
            return self.ours == self.target
        if self.check == "at_most":
            return self.ours <= self.target
        ratio = self.ratio
        return ratio is not None and ratio <= self.target

    @property
    def target_text(self) -> str:
        if self.target is None or self.check == "reference":
            return "-"
        return {"ratio": f"<= {self.target:g}x", "at_most": f"<= {self.target:g}", "exactly": f"= {self.target:g}"}[
            self.check
        ]

    def as_json(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "metric": self.metric,
            "ours": self.ours,
            "baseline": self.baseline,
            "unit": self.unit,
            "ratio": None if ratio is None else round(ratio, 4),
            "ratio_of": "pairs" if self.paired is not None else "medians",
            "target": self.target,
            "check": self.check,
            "met": self.met,
        }


@dataclass
class CaseResult:
    """What one case measured (`data`, in the JSON under its name) and the targets it checks."""

    name: str
    data: dict[str, Any]
    rows: list[Row] = field(default_factory=list)


def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), model)
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(), "platform": platform.platform()}


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if value == int(value) and abs(value) < 1e9:
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def table(rows: list[Row]) -> str:
    header = ("metric", "ours", "baseline", "ratio", "target", "met?")
    lines = [
        (
            row.metric,
            f"{_num(row.ours)} {row.unit}".strip(),
            "-" if row.baseline is None else f"{_num(row.baseline)} {row.unit}".strip(),
            "-" if row.ratio is None else f"{row.ratio:.3f}x",
            row.target_text,
            {True: "yes", False: "NO", None: "-"}[row.met],
        )
        for row in rows
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*line) for line in lines]
    return "\n".join(out)


def bench_line(results: list[CaseResult], *, quick: bool) -> str:
    """`BENCH {json}` on one line: every case's numbers plus the rows of the table."""
    payload = {
        "quick": quick,
        "machine": machine(),
        "cases": {result.name: result.data for result in results},
        "rows": [row.as_json() for result in results for row in result.rows],
    }
    return "BENCH " + json.dumps(payload, separators=(",", ":"), sort_keys=False)
