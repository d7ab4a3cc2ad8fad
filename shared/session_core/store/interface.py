"""What the service asks of session persistence: the SessionStore protocol and the values it answers with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Session:
    call_id: str
    expires_at: int
    ended: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    incarnation: str = ""  # INCARNATION_LENGTH lowercase hex, new each time the call id starts a session
    # Every incarnation the session accepts (its own first): those clients holding the key added.
    incarnations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CleanupResult:
    examined: int
    deleted: int


class SessionStore(Protocol):
    def get(self, call_id: str) -> Session | None:
        """The session, or None when absent or past its expiry (ended sessions are returned)."""

    def create(
        self,
        call_id: str,
        metadata: Mapping[str, Any],
        ttl: int,
        *,
        restart: bool = True,
        incarnation: str | None = None,
    ) -> tuple[Session, bool]:
        """Start a session, or merge into the active one; True when it was started.

        An ended session is replaced by a fresh one when `restart`, else SessionEnded. With
        `incarnation`, a start takes it as the session's own and a merge has the session accept
        it too (IncarnationLimit past MAX_INCARNATIONS). The session lives at least `ttl` seconds more.
        """

    def merge_metadata(self, call_id: str, metadata: Mapping[str, Any], ttl: int) -> Session:
        """Merge keys into the session's metadata (starting it if absent); it lives at least `ttl` seconds more."""

    def extend(self, call_id: str, until: int) -> None:
        """Keep the active session until at least `until` (epoch seconds).

        SessionNotFound when it does not exist or has expired, SessionEnded when it was ended.
        """

    def delete_metadata(self, call_id: str) -> bool:
        """Empty an active session's metadata; True if it had any."""

    def end(self, call_id: str) -> bool:
        """Mark an active session ended and drop its metadata; True if it was active."""

    def delete_expired(self, now: int) -> CleanupResult:
        """Delete items past their expiry, reading only those."""
