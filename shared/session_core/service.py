"""What each route does: the session service over a store, a key ring and the token code."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cache, cached_property
from typing import Any

from session_rules import limits, tokens
from session_rules.codes import Reason

from .config import SIGNING_SECRET, TABLE, Clock, Settings, dynamodb, secretsmanager, settings
from .errors import DebugDisabled, Misconfigured, SessionEnded, SessionNotFound
from .keys import KeyRing
from .store import CleanupResult, DynamoSessionStore, Session, SessionStore


class SessionService:
    def __init__(
        self,
        config: Settings,
        store: Callable[[], SessionStore] | SessionStore,
        keys: Callable[[], KeyRing] | KeyRing,
        clock: Clock = time.time,
    ) -> None:
        self.config = config
        self._store = store
        self._keys = keys
        self.clock = clock

    @cached_property
    def store(self) -> SessionStore:
        # Built on first use, so a stateless validate never creates a DynamoDB client.
        return self._store() if callable(self._store) else self._store

    @cached_property
    def keys(self) -> KeyRing:
        return self._keys() if callable(self._keys) else self._keys

    def create_session(
        self,
        call_id: str | None,
        metadata: Mapping[str, Any],
        *,
        restart: bool = True,
        incarnation: str | None = None,
        lifetime: int | None = None,
    ) -> tuple[Session, bool]:
        """Start a session (id generated like the SDK's when absent); True when new.

        An ended session under the id is replaced by a fresh one when `restart`, else SessionEnded.
        `incarnation` (a client's, for tokens it mints itself) becomes a new session's own, or one
        more the active session accepts. The session lives at least as long as tokens of `lifetime`
        seconds (default: the stack's) minted now, so revocation never refuses a live one as expired.
        """
        ttl = max(self.config.session_ttl_secs, lifetime or self.config.token_expiry_secs)
        return self.store.create(
            call_id or secrets.token_urlsafe(16), metadata, ttl, restart=restart, incarnation=incarnation
        )

    def mint(self, call_id: str, functions: list[str], lifetime: int | None = None) -> tuple[dict[str, str], int]:
        """Tokens for an active session's functions, and their common expiry; the session is kept
        alive at least until then."""
        session = self.store.get(call_id)
        if session is None:
            raise SessionNotFound()
        if session.ended:
            raise SessionEnded()
        minted, expiry = self.mint_for(session, functions, lifetime)
        if expiry > session.expires_at:
            self.store.extend(call_id, expiry)
        return minted, expiry

    def start(
        self,
        call_id: str | None,
        metadata: Mapping[str, Any],
        functions: Sequence[str] = (),
        *,
        restart: bool = True,
        incarnation: str | None = None,
        lifetime: int | None = None,
    ) -> tuple[Session, bool, tuple[dict[str, str], int] | None]:
        """create_session, and the tokens of `functions` (with their common expiry) when any are
        named. The key is read first: a stack that cannot mint fails the request before anything
        is written."""
        key = self._minting_key(lifetime) if functions else None
        session, created = self.create_session(
            call_id, metadata, restart=restart, incarnation=incarnation, lifetime=lifetime
        )
        return session, created, None if key is None else self._mint_with(key, session, functions, lifetime)

    def mint_for(
        self, session: Session, functions: Sequence[str], lifetime: int | None = None
    ) -> tuple[dict[str, str], int]:
        """Tokens for a session known to be active (just read or written), and their common expiry:
        now + `lifetime` seconds (default: the stack's TokenExpirySecs)."""
        return self._mint_with(self._minting_key(lifetime), session, functions, lifetime)

    def _mint_with(
        self, key: bytes, session: Session, functions: Sequence[str], lifetime: int | None
    ) -> tuple[dict[str, str], int]:
        """Each nonce starts with the session's incarnation, so revocation can tell tokens of
        this session from those of an ended one under the same call id."""
        expiry = int(self.clock()) + (lifetime or self.config.token_expiry_secs)
        minted = {
            name: tokens.mint(key, session.call_id, name, expiry, tokens.new_nonce(session.incarnation))
            for name in functions
        }
        return minted, expiry

    def _minting_key(self, lifetime: int | None) -> bytes:
        """The key tokens of `lifetime` seconds (default: the stack's) are minted with; raises what
        minting would (Misconfigured, KeyUnavailable)."""
        if lifetime is None and (problem := self.config.lifetime_problem):
            raise Misconfigured(problem)  # tokens validation would refuse: an outage, not bad tokens
        return self.keys.current()

    def validate(self, call_id: str, function: str, token: str) -> tokens.Verdict:
        """The SDK's check with a reason; keys of the last rotation still count."""
        now = self.clock()
        fields = tokens.parse(token)
        verdict = tokens.verify_fields(
            self.keys.candidates(now), call_id, function, fields, now, self.config.max_token_lifetime_secs
        )
        if not verdict.valid or fields is None or not self.config.revocation_check:
            return verdict
        return verdict if self._session_holds(call_id, fields) else tokens.Verdict(False, Reason.SESSION_ENDED)

    def _session_holds(self, call_id: str, fields: tokens.Fields) -> bool:
        """The (valid) token was minted for the call's current session, not an ended earlier one.

        Tokens are minted with one of the session's incarnations as the nonce's first characters
        (the service's own, or one a client holding the key had the session accept), and the
        signature covers the nonce: an exact test, whatever the clock or the configured lifetime.
        """
        session = self.store.get(call_id)
        return (
            session is not None
            and not session.ended
            and len(fields.nonce) == tokens.NONCE_LENGTH
            and fields.nonce[: limits.INCARNATION_LENGTH] in session.incarnations
        )

    def debug_view(self) -> Callable[[str], dict[str, Any]]:
        """The SDK's debug_token view of a token; DebugDisabled unless debug mode is on, so a caller
        can refuse before it reads the request."""
        if not self.config.debug_mode:
            raise DebugDisabled()
        return lambda token: tokens.debug(token, self.clock())

    def get_metadata(self, call_id: str) -> dict[str, Any]:
        session = self.store.get(call_id)
        return session.metadata if session is not None else {}

    def merge_metadata(self, call_id: str, metadata: Mapping[str, Any]) -> Session:
        return self.store.merge_metadata(call_id, metadata, self.config.session_ttl_secs)

    def delete_metadata(self, call_id: str) -> bool:
        return self.store.delete_metadata(call_id)

    def end_session(self, call_id: str) -> bool:
        return self.store.end(call_id)

    def cleanup(self) -> CleanupResult:
        return self.store.delete_expired(int(self.clock()))


@cache
def default_service() -> SessionService:
    """The container's service, wired to AWS from the environment."""
    config = settings()

    def store() -> SessionStore:
        if missing := config.missing(TABLE):
            raise Misconfigured(missing[0])
        return DynamoSessionStore(config.table_name, dynamodb())

    def keys() -> KeyRing:
        if missing := config.missing(SIGNING_SECRET):
            raise Misconfigured(missing[0])
        return KeyRing(
            config.signing_secret_id,
            secretsmanager(),
            config.key_cache_secs,
            max_token_lifetime_secs=config.max_token_lifetime_secs,
        )

    return SessionService(config, store=store, keys=keys)
