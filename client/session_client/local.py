"""In-process work with the signing key: minting a call's tokens, checking tokens, and what this
manager knows of the calls it minted for.

A call's tokens carry the call's incarnation (8 random hex characters, picked here once per call)
as the first half of their nonce. The session's start, sent in the background, has the service
accept that incarnation, so under RevocationCheck the service accepts exactly these tokens while
the call is active, as it accepts its own.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from session_rules import limits
from session_rules import tokens as token_format

from .keys import SecretKeys, StaticKeys
from .tokens import TokenCheck

MAX_CALLS = 4096  # calls remembered; one forgotten and seen again starts with another incarnation


class LocalSigner:
    """Mints and checks tokens with the keys held (the current one mints; a rotation's previous one
    still checks while a token minted with it can be alive), as the service does."""

    def __init__(self, keys: StaticKeys | SecretKeys, max_lifetime: int, wall: Callable[[], float] = time.time) -> None:
        self.keys = keys
        self.max_lifetime = max_lifetime
        self._wall = wall

    def expiry(self, lifetime: int) -> int:
        """The expiry of a token minted now to live `lifetime` seconds, as the SDK computes it."""
        return int(self._wall()) + lifetime

    def mint(self, call_id: str, function: str, incarnation: str, expiry: int) -> str:
        """A token in the SDK's format, signed with the current key, its nonce led by `incarnation`."""
        return token_format.mint(self.keys.current(), call_id, function, expiry, token_format.new_nonce(incarnation))

    def check(self, call_id: str, function: str, token: str) -> TokenCheck:
        """The service's verdict on a token (inputs already checked), and its reason. The keys are
        read lazily: a re-read when none matches (perhaps rotated since they were read), the
        retired one only while it still checks tokens."""
        now = self._wall()
        return token_format.verify(self.keys.candidates(now), call_id, function, token, now, self.max_lifetime)


@dataclass
class Call:
    """What this manager knows of one call it minted for."""

    incarnation: str
    covered_until: int = 0  # the expiry up to which a start already queued keeps the session alive
    ended: bool = False  # this manager ended it, or the service refused its start as ended
    # The service refused to accept the incarnation (the session already accepts the most it may):
    # under RevocationCheck it refuses these tokens; no start is queued again for it.
    unaccepted: bool = False


class LocalCalls:
    """Thread-safe, bounded: per call, its incarnation, how far its session is known to reach, and
    whether it was ended."""

    def __init__(self, capacity: int = MAX_CALLS) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._calls: OrderedDict[str, Call] = OrderedDict()

    def mint_plan(
        self, call_id: str, expiry: int, margin: int = 0, *, restart: bool = False
    ) -> tuple[str, bool] | None:
        """For a token expiring at `expiry`: (the call's incarnation, whether a start must be queued
        to keep the session alive that long); None when the call was ended here.

        A start queued now keeps the session alive until at least `expiry + margin` (it is sent
        asking for that much more), so tokens minted for the call within `margin` seconds need no
        other. `restart` starts the call afresh with a new incarnation, whatever is known of it:
        the call may have been ended elsewhere, and a restart naming the ended session's
        incarnation would be refused (it would make the ended call's tokens valid again).
        """
        with self._lock:
            call = self._calls.get(call_id)
            if call is None or restart:
                call = self._calls[call_id] = Call(secrets.token_hex(limits.INCARNATION_LENGTH // 2))
            elif call.ended:
                return None
            self._calls.move_to_end(call_id)
            while len(self._calls) > self._capacity:
                self._calls.popitem(last=False)
            if expiry <= call.covered_until or call.unaccepted:
                return call.incarnation, False
            call.covered_until = expiry + margin
            return call.incarnation, True

    def uncover(self, call_id: str, incarnation: str) -> None:
        """The start for this incarnation was not queued: the next mint queues it again."""
        with self._lock:
            call = self._calls.get(call_id)
            if call is not None and call.incarnation == incarnation:
                call.covered_until = 0

    def end(self, call_id: str, incarnation: str | None = None) -> None:
        """The call ended (only the incarnation given, if one is: a refused start of an earlier one
        must not end a call started afresh since)."""
        with self._lock:
            call = self._calls.get(call_id)
            if call is None:
                if incarnation is None:
                    self._calls[call_id] = Call("", ended=True)
                    while len(self._calls) > self._capacity:
                        self._calls.popitem(last=False)
                return
            if incarnation is None or call.incarnation == incarnation:
                call.ended = True

    def unaccept(self, call_id: str, incarnation: str) -> bool:
        """The service will not accept this incarnation of the call; True the first time it is told."""
        with self._lock:
            call = self._calls.get(call_id)
            if call is None or call.incarnation != incarnation or call.unaccepted:
                return False
            call.unaccepted = True
            return True

    def ended(self, call_id: str) -> bool:
        with self._lock:
            call = self._calls.get(call_id)
            return call is not None and call.ended
