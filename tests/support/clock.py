"""A clock the tests set and move."""

from __future__ import annotations

import time


class Clock:
    """A settable clock (epoch seconds): pass it as `clock=` and move time with advance()."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(time.time() if start is None else start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
