"""The template's schedules, run locally as EventBridge Scheduler would run them."""

from __future__ import annotations

import json
import re
import threading
import time

from .console import complain, say
from .lambda_pool import InvokeError, LambdaPool, PoolBusy, PoolClosed
from .lambda_runtime import scheduled_event
from .template import Function

CRON_FALLBACK_SECS = 15 * 60
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(second|minute|hour|day)s?\s*\)$")
_UNIT_SECS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def schedule_interval(expression: str | None, override: str | None = None) -> tuple[float | None, str]:
    """Seconds between runs (None: never) and a sentence saying why.

    `rate(N unit)` is honoured; cron() and at() run at a fixed interval locally.
    CLEANUP_INTERVAL_SECS (`override`) wins: 0 turns the schedule off.
    """
    if override is not None and override.strip():
        secs = float(override)
        if secs <= 0:
            return None, "off (CLEANUP_INTERVAL_SECS=0)"
        return secs, f"every {secs:g}s (CLEANUP_INTERVAL_SECS)"
    if not expression:
        return None, "no schedule"
    rate = _RATE.match(expression.strip())
    if rate:
        secs = int(rate.group(1)) * _UNIT_SECS[rate.group(2)]
        return float(secs), f"every {secs}s ({expression})"
    return float(CRON_FALLBACK_SECS), (
        f"every {CRON_FALLBACK_SECS}s: local runs use a fixed interval for {expression}; "
        "set CLEANUP_INTERVAL_SECS to change it"
    )


class Scheduler:
    """Runs each scheduled function every interval, as EventBridge Scheduler would."""

    def __init__(self, pool: LambdaPool, jobs: dict[str, float]) -> None:
        self.pool = pool
        self.jobs = jobs
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n, s), daemon=True) for n, s in jobs.items()]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def _run(self, name: str, interval: float) -> None:
        while not self._stop.wait(interval):
            started = time.perf_counter()
            try:
                result = self.pool.invoke(name, scheduled_event())
            except InvokeError as exc:
                complain(f"[{name}] scheduled run failed: {exc.error['errorType']}: {exc.error['errorMessage']}")
                continue
            except (PoolBusy, PoolClosed):
                continue
            say(f"SCHEDULE {name} {json.dumps(result)} {(time.perf_counter() - started) * 1000:.0f}ms")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)


def scheduled_jobs(functions: dict[str, Function], override: str | None) -> tuple[dict[str, float], list[str]]:
    """Each scheduled function's interval, and a line per function for the banner."""
    jobs, lines = {}, []
    for name, fn in functions.items():
        if fn.schedule is None:
            continue
        interval, why = schedule_interval(fn.schedule, override)
        lines.append(f"{name} {why}")
        if interval is not None:
            jobs[name] = interval
    return jobs, lines
