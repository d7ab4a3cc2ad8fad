"""Tokens the service minted ahead of use, and the function names they are minted for.

An agent renders its SWML once per call: a session, then a token per tool. The manager learns
the tool names from the agent's own create_tool_token calls; from then on a create_session asks
for all of them in the same request, and create_tool_token is answered from here.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from session_rules import limits

MAX_CALLS = 1024  # calls whose tokens are held; a render uses them within moments of its create


class MintedTokens:
    """Thread-safe: names learned (at most one batch's worth) and, per call, tokens still fresh.

    A token is handed out only in the first half of its remaining life as received, so a caller
    gets nearly the lifetime a freshly minted one would have, whatever the configured expiry.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._names: dict[str, None] = {}
        self._calls: OrderedDict[str, tuple[dict[str, str], float]] = OrderedDict()
        # How often each call's tokens were dropped: a mint answered after its call was ended (or
        # started afresh) by this manager carries an older count, and is not held.
        self._drops: OrderedDict[str, int] = OrderedDict()

    def learn(self, name: str) -> None:
        with self._lock:
            if name not in self._names and len(self._names) < limits.MAX_BATCH:
                self._names[name] = None

    def names(self, first: str | None = None) -> list[str]:
        """The learned names (`first` leading), at most one batch."""
        with self._lock:
            names = list(self._names)
        if first is not None:
            names = [first, *(n for n in names if n != first)]
        return names[: limits.MAX_BATCH]

    def epoch(self, call_id: str) -> int:
        """What to pass to keep() for tokens asked for from now on."""
        with self._lock:
            return self._drops.get(call_id, 0)

    def keep(self, call_id: str, tokens: Mapping[str, str], expires_at: float, epoch: int) -> None:
        """Hold `tokens` for `call_id`, replacing what was held for it, unless the call's tokens
        were dropped since `epoch` was read (the tokens may belong to an ended session)."""
        now = self._clock()
        with self._lock:
            if self._drops.get(call_id, 0) != epoch:
                return
            self._calls[call_id] = (dict(tokens), now + (expires_at - now) / 2)
            self._calls.move_to_end(call_id)
            while len(self._calls) > MAX_CALLS:
                self._calls.popitem(last=False)

    def get(self, call_id: str, name: str) -> str | None:
        with self._lock:
            held = self._calls.get(call_id)
            if held is None:
                return None
            tokens, fresh_until = held
            if self._clock() >= fresh_until:
                del self._calls[call_id]
                return None
            return tokens.get(name)

    def forget(self, call_id: str) -> None:
        with self._lock:
            self._calls.pop(call_id, None)
            self._drops[call_id] = self._drops.pop(call_id, 0) + 1
            while len(self._drops) > MAX_CALLS:
                self._drops.popitem(last=False)
