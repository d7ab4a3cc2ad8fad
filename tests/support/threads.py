"""Threads released together, for the tests of concurrent writers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def run_together(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Call work(i) from `count` threads released at the same moment; the answers in order."""
    barrier = threading.Barrier(count)

    def task(i: int) -> Any:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(task, range(count)))
