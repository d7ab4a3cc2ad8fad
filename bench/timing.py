"""Interleaved timing: every compared variant runs once per round, so machine noise hits all alike."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Sample:
    """One timed run of a variant: wall and CPU seconds per call, averaged over `calls` calls."""

    wall: float
    cpu: float
    calls: int


@dataclass(frozen=True, slots=True)
class Stats:
    """Median and 99th percentile of per-call seconds across samples."""

    median: float
    p99: float
    samples: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        ordered = sorted(values)
        p99 = statistics.quantiles(ordered, n=100, method="inclusive")[98] if len(ordered) > 1 else ordered[0]
        return cls(statistics.median(ordered), p99, len(ordered))

    def scaled(self, factor: float, digits: int = 3) -> dict[str, float | int]:
        """As JSON, in a chosen unit (factor 1e6: microseconds)."""
        return {
            "median": round(self.median * factor, digits),
            "p99": round(self.p99 * factor, digits),
            "n": self.samples,
        }


@dataclass(frozen=True, slots=True)
class Measured:
    wall: Stats
    cpu: Stats


# A variant times `n` calls of itself and reports the sample; building each call's
# input (events, contexts) happens inside it but outside its timer.
Variant = Callable[[int], Sample]


def timed(calls: Iterable[Callable[[], Any]] | Callable[[], Any], n: int) -> Sample:
    """Time `n` calls: one callable repeated, or `n` prepared callables run in order.

    The garbage collector is off while the timer runs (as timeit does) and runs between
    samples instead, so a collection lands on no single variant by chance.
    """
    run = [calls] * n if callable(calls) else list(calls)
    gc.collect()
    gc.disable()
    try:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for call in run:
            call()
        wall1, cpu1 = time.perf_counter(), time.process_time()
    finally:
        gc.enable()
    return Sample((wall1 - wall0) / len(run), (cpu1 - cpu0) / len(run), len(run))


def interleave(
    variants: Mapping[str, Variant], *, rounds: int, batch: Mapping[str, int] | int, warmup: int = 2
) -> dict[str, Measured]:
    """Run every variant once per round (order rotated each round) and summarize per variant.

    `batch` is how many calls one sample times, per variant: a cheap call needs many to
    rise above the timer's resolution, an expensive one needs few.
    """
    names = list(variants)
    sizes = {name: batch if isinstance(batch, int) else batch[name] for name in names}
    for _ in range(warmup):
        for name in names:
            variants[name](sizes[name])
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    # Everything alive now (imported SDKs, clients) leaves the collector's view, so the
    # collection before each sample only walks what the samples themselves allocated.
    gc.collect()
    gc.freeze()
    try:
        for r in range(rounds):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                samples[name].append(variants[name](sizes[name]))
    finally:
        gc.unfreeze()
    return {
        name: Measured(Stats.of([s.wall for s in taken]), Stats.of([s.cpu for s in taken]))
        for name, taken in samples.items()
    }


def ratio(ours: float, baseline: float) -> float:
    return ours / baseline if baseline > 0 else float("inf")
