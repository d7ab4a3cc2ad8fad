"""Tokens the service minted ahead of use, the function names they are minted for, and the calls
this manager knows to have a session.

An agent renders its SWML once per call: a session, then a token per tool. The manager learns
the tool names from the agent's own create_tool_token calls; from then on a create_session asks
for all of them in the same request, and create_tool_token is answered from here. A call this
manager never started (SignalWire names the call, so the SDK never calls create_session) is
started by its first mint, in the same one request.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from session_rules import limits

MAX_CALLS = 1024  # calls whose tokens are held; a render uses them within moments of its create
# How long a token is held after it arrives: long enough for a render, short enough that a call
# another instance ends (or starts afresh) soon stops being served from here.
HOLD_SECS = 10.0


class MintedTokens:
    """Thread-safe: names learned (at most one batch's worth) and, per call, tokens still fresh.

    A token is held for HOLD_SECS, or half its remaining life when that is shorter (judged by this
    machine's clock, so a skewed clock at worst holds nothing), timed by the monotonic clock.
    """

    def __init__(self, wall: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._names: dict[str, None] = {}
        self._calls: OrderedDict[str, dict[str, tuple[str, float]]] = OrderedDict()  # name -> (token, held until)
        # How often each call's tokens were forgotten: a mint answered after its call was ended by
        # this manager carries an older count, and is not held.
        self._forgotten: OrderedDict[str, int] = OrderedDict()
        self._started: OrderedDict[str, None] = OrderedDict()  # calls this manager started or minted for

    def learn(self, name: str) -> None:
        with self._lock:
            if name not in self._names and len(self._names) < limits.MAX_BATCH:
                self._names[name] = None

    def names(self) -> list[str]:
        """The learned names, at most one batch."""
        with self._lock:
            return list(self._names)

    def wanted(self, call_id: str, first: str) -> list[str]:
        """`first`, then the learned names not held for `call_id`: what one mint should ask for."""
        now = self._monotonic()
        with self._lock:
            held = self._calls.get(call_id, {})
            rest = [n for n in self._names if n != first and not (n in held and now < held[n][1])]
        return [first, *rest][: limits.MAX_BATCH]

    def epoch(self, call_id: str) -> int:
        """What to pass to keep() for tokens asked for from now on."""
        with self._lock:
            return self._forgotten.get(call_id, 0)

    def keep(self, call_id: str, tokens: Mapping[str, str], expires_at: float, epoch: int) -> None:
        """Hold `tokens` for `call_id` beside what is held for it, unless the call was forgotten
        since `epoch` was read (the tokens may belong to an ended session)."""
        until = self._monotonic() + min(HOLD_SECS, (expires_at - self._wall()) / 2)
        with self._lock:
            if self._forgotten.get(call_id, 0) != epoch or until <= self._monotonic():
                return
            held = self._calls.setdefault(call_id, {})
            held.update((name, (token, until)) for name, token in tokens.items())
            self._calls.move_to_end(call_id)
            while len(self._calls) > MAX_CALLS:
                self._calls.popitem(last=False)

    def take(self, call_id: str, name: str) -> str | None:
        """The held token for this call and function, if it is still to be handed out."""
        with self._lock:
            token, until = self._calls.get(call_id, {}).get(name, ("", 0.0))
        return token if token and self._monotonic() < until else None

    def started(self, call_id: str) -> bool:
        """True when this manager started the call's session, or minted for it, and did not end it."""
        with self._lock:
            return call_id in self._started

    def mark_started(self, call_id: str) -> None:
        with self._lock:
            self._started[call_id] = None
            self._started.move_to_end(call_id)
            while len(self._started) > MAX_CALLS:
                self._started.popitem(last=False)

    def drop(self, call_id: str) -> None:
        """Let go of a call's tokens (its session was started afresh: they belong to the earlier one)."""
        with self._lock:
            self._calls.pop(call_id, None)

    def forget(self, call_id: str) -> None:
        """drop(), and refuse to hold what mints already under way for the call answer (it was ended)."""
        with self._lock:
            self._calls.pop(call_id, None)
            self._started.pop(call_id, None)
            self._forgotten[call_id] = self._forgotten.pop(call_id, 0) + 1
            while len(self._forgotten) > MAX_CALLS:
                self._forgotten.popitem(last=False)
