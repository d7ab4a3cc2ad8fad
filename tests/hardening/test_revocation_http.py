"""Revocation over HTTP through the local stack, in both modes.

RevocationCheck=true: after DELETE /sessions/{id}, every token of that call (single and
batch mints, several functions) is rejected with `session_ended`, other calls are not.
The default (false): validate stays stateless, so an ended call's tokens still check out
until they expire.
"""

from __future__ import annotations

import requests
from signalwire.core.security.session_manager import SessionManager

from harness.served import ServedStack
from tests.support.plain_http import end, mint, new_call_id, start, verdict

FUNCTIONS = ("lookup", "transfer", "get_weather", "book-table", "x")


def tokens_of_one_call(http: requests.Session, stack: ServedStack, call_id: str) -> dict[str, list[str]]:
    """Several tokens per function: a batch mint plus single mints."""
    found: dict[str, list[str]] = {name: [] for name in FUNCTIONS}
    for name, token in mint(http, stack, call_id, *FUNCTIONS).items():
        found[name].append(token)
    for name in FUNCTIONS[:2]:
        found[name].append(mint(http, stack, call_id, name)[name])
    return found


def test_with_revocation_every_token_of_an_ended_call_is_rejected(
    http: requests.Session, loud_stack: ServedStack
) -> None:
    stack = loud_stack
    call_id, other = start(http, stack), start(http, stack)
    tokens = tokens_of_one_call(http, stack, call_id)
    others = tokens_of_one_call(http, stack, other)
    for name, minted in tokens.items():
        for token in minted:
            assert verdict(http, stack, call_id, name, token) == {"valid": True}

    assert end(http, stack, call_id) is True
    for name, minted in tokens.items():
        for token in minted:
            assert verdict(http, stack, call_id, name, token) == {"valid": False, "reason": "session_ended"}, name
    for name, minted in others.items():  # ending one call leaves the others alone
        for token in minted:
            assert verdict(http, stack, other, name, token) == {"valid": True}, name

    assert end(http, stack, call_id) is False  # already ended
    assert verdict(http, stack, call_id, "lookup", tokens["lookup"][0])["reason"] == "session_ended"
    reply = http.post(f"{stack.base_url}/sessions/{call_id}/tokens", json={"function": "lookup"}, timeout=10)
    assert (reply.status_code, reply.json()["error"]) == (409, "session_ended")
    # The same call id started again, in the same second: the old tokens stay dead, new ones live.
    assert http.post(f"{stack.base_url}/sessions", json={"call_id": call_id}, timeout=10).status_code == 201
    fresh = mint(http, stack, call_id, "lookup")["lookup"]
    assert verdict(http, stack, call_id, "lookup", fresh) == {"valid": True}
    for token in tokens["lookup"]:
        assert verdict(http, stack, call_id, "lookup", token) == {"valid": False, "reason": "session_ended"}


def test_with_revocation_a_never_created_call_is_rejected(http: requests.Session, loud_stack: ServedStack) -> None:
    call_id = new_call_id("never")
    forged_by_key_holder = SessionManager(secret_key=loud_stack.signing_key).generate_token("lookup", call_id)
    assert verdict(http, loud_stack, call_id, "lookup", forged_by_key_holder) == {
        "valid": False,
        "reason": "session_ended",
    }


def test_without_revocation_validate_stays_stateless(http: requests.Session, default_stack: ServedStack) -> None:
    stack = default_stack
    call_id = start(http, stack)
    tokens = tokens_of_one_call(http, stack, call_id)
    assert end(http, stack, call_id) is True
    for name, minted in tokens.items():
        for token in minted:
            assert verdict(http, stack, call_id, name, token) == {"valid": True}, name
    # No session needed at all: a token signed with the key is checked by signature alone.
    unknown = new_call_id("never")
    token = SessionManager(secret_key=stack.signing_key).generate_token("lookup", unknown)
    assert verdict(http, stack, unknown, "lookup", token) == {"valid": True}
    # ...and minting still needs an active session.
    reply = http.post(f"{stack.base_url}/sessions/{call_id}/tokens", json={"function": "lookup"}, timeout=10)
    assert (reply.status_code, reply.json()["error"]) == (409, "session_ended")
