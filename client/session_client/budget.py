"""How long one render may wait on the service, without the key: a total budget per render.

AgentBase renders a call's SWML on its event loop and asks its session manager for each tool's
token in turn. The first ask of a render opens its budget; every request the render makes gets
what is left of it as its deadline. Once one fails, the rest of that render's asks for the call
fail at once with the same error (the SDK logs each and leaves the token out), so a service that
is down or hung costs a render one budget, whatever its number of tools.

A render is a run of asks for one call with no pause between them: the SDK makes them back to
back. An ask after a pause longer than GAP_SECS belongs to the next render.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from .errors import SessionServiceError, service_error

GAP_SECS = 0.25
MAX_CALLS = 1024


@dataclass
class _Render:
    deadline: float
    last: float  # when its last ask began or ended
    failure: SessionServiceError | None = None


class RenderBudgets:
    """Thread-safe, bounded: per call, the render under way, its deadline and its failure."""

    def __init__(self, budget_secs: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.budget_secs = budget_secs
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._renders: OrderedDict[str, _Render] = OrderedDict()

    def deadline(self, call_id: str, *, begin: bool = False) -> float:
        """The time.monotonic() deadline of the call's render under way, opening one if none is
        (or, with `begin`, in any case: create_session is where a render begins).

        Raises the render's failure instead, when an earlier ask of it failed.
        """
        now = self._monotonic()
        with self._lock:
            render = self._renders.get(call_id)
            if begin or render is None or now - render.last > GAP_SECS:
                render = self._renders[call_id] = _Render(now + self.budget_secs, now)
                self._renders.move_to_end(call_id)
                while len(self._renders) > MAX_CALLS:
                    self._renders.popitem(last=False)
            render.last = now
            failure = render.failure
        if failure is not None:
            raise service_error(
                failure.code,
                f"{failure.message} (earlier in this render: not asked again)",
                failure.status,
                unsent=True,
            )
        return render.deadline

    def finished(self, call_id: str, failure: SessionServiceError | None = None) -> None:
        """An ask of the call's render returned (with `failure`, when it failed)."""
        with self._lock:
            render = self._renders.get(call_id)
            if render is not None:
                render.last = self._monotonic()
                if failure is not None:
                    render.failure = failure

    def forget(self, call_id: str) -> None:
        """The call's session changed (activated, ended): a failure seen before is not repeated."""
        with self._lock:
            self._renders.pop(call_id, None)
