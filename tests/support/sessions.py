"""Reading sessions in tests that know they exist."""

from __future__ import annotations

from session_core.store import Session, SessionStore


def existing(store: SessionStore, call_id: str) -> Session:
    """The session under `call_id`, which the test expects to be there (ended or not)."""
    session = store.get(call_id)
    assert session is not None, f"no session {call_id!r}"
    return session
