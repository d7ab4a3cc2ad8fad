"""POST /sessions `incarnation` and `token_expiry_secs`, POST /sessions/{call_id}/tokens `token_expiry_secs`.

A client holding the signing key starts a call with the incarnation it mints with; under
RevocationCheck the service then accepts exactly those tokens while the session is active. Tokens
live as long as the request asks, up to MaxTokenLifetimeSecs, and the session at least as long.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from session_rules import tokens
from session_rules.limits import MAX_INCARNATIONS

from tests.support.handler_stack import HandlerStack

TOKEN_LIFETIME = 3600


def local_token(
    stack: HandlerStack, call_id: str, function: str, incarnation: str, lifetime: int = TOKEN_LIFETIME
) -> str:
    """A token as a client holding the key mints it: its nonce begins with the call's incarnation."""
    key = stack.account.signing_key.encode()
    return tokens.mint(key, call_id, function, int(time.time()) + lifetime, tokens.new_nonce(incarnation))


def valid(stack: HandlerStack, call_id: str, function: str, token: str) -> tuple[bool, str | None]:
    reply = stack.validate(call_id, function, token)
    assert reply.status == 200, reply
    return reply.body["valid"], reply.body.get("reason")


@pytest.fixture
def strict(make_stack: Callable[..., HandlerStack]) -> HandlerStack:
    return make_stack(REVOCATION_CHECK="true")


def test_a_client_started_session_accepts_its_locally_minted_tokens_until_it_ends(strict: Any) -> None:
    token = local_token(strict, "call-1", "f", "0badcafe")
    assert valid(strict, "call-1", "f", token) == (False, "session_ended")  # not started yet: not the session's
    body = {"call_id": "call-1", "incarnation": "0badcafe", "token_expiry_secs": TOKEN_LIFETIME, "restart": False}
    assert strict.request("POST", "/sessions", body).status == 201
    assert valid(strict, "call-1", "f", token) == (True, None)
    other = local_token(strict, "call-1", "f", "0badcaff")  # an incarnation the session never accepted
    assert valid(strict, "call-1", "f", other) == (False, "session_ended")
    minted = strict.mint("call-1", "f")  # the service's own, with the session's incarnation
    assert valid(strict, "call-1", "f", minted) == (True, None)
    assert strict.request("DELETE", "/sessions/call-1").body == {"ended": True}
    for ended in (token, minted):
        assert valid(strict, "call-1", "f", ended) == (False, "session_ended")
    again = strict.request("POST", "/sessions", body)
    assert (again.status, again.body["error"]) == (409, "session_ended")  # restart: false keeps it ended


def test_a_second_instance_joins_an_active_session_with_its_own_incarnation(strict: Any) -> None:
    strict.request("POST", "/sessions", {"call_id": "call-1", "incarnation": "00000001", "restart": False})
    joined = strict.request("POST", "/sessions", {"call_id": "call-1", "incarnation": "00000002", "restart": False})
    assert joined.status == 200  # already active: accepted beside the first
    for incarnation in ("00000001", "00000002"):
        assert valid(strict, "call-1", "f", local_token(strict, "call-1", "f", incarnation)) == (True, None)


def test_past_the_limit_is_409_incarnation_limit(stack: HandlerStack) -> None:
    for i in range(MAX_INCARNATIONS):
        reply = stack.request("POST", "/sessions", {"call_id": "call-1", "incarnation": f"{i:08x}"})
        assert reply.status in (200, 201), reply
    refused = stack.request("POST", "/sessions", {"call_id": "call-1", "incarnation": "ffffffff", "metadata": {"k": 1}})
    assert (refused.status, refused.body["error"]) == (409, "incarnation_limit")
    assert stack.request("GET", "/sessions/call-1/metadata").body["metadata"] == {}


@pytest.mark.parametrize("bad", ["0BADCAFE", "0badcaf", "0badcafe0", "0badcafg", "", 12345678, True, ["0badcafe"]])
def test_an_incarnation_outside_its_rule_is_400(stack: HandlerStack, bad: Any) -> None:
    reply = stack.request("POST", "/sessions", {"call_id": "call-1", "incarnation": bad})
    assert (reply.status, reply.body["error"]) == (400, "invalid_incarnation")
    assert stack.request("GET", "/sessions/call-1/metadata").body["metadata"] == {}
    assert stack.request("POST", "/sessions/call-1/tokens", {"function": "f"}).status == 404  # nothing started


def test_tokens_live_as_long_as_asked_and_the_session_at_least_as_long(stack: HandlerStack) -> None:
    ttl = int(stack.account.environment["SESSION_TTL_SECS"])
    day = int(stack.account.environment["MAX_TOKEN_LIFETIME_SECS"])
    before = int(time.time())
    created = stack.request("POST", "/sessions", {"call_id": "call-1", "functions": ["f"], "token_expiry_secs": day})
    after = int(time.time())
    assert created.status == 201 and day > ttl
    assert before + day <= created.body["tokens_expire_at"] <= after + day
    assert created.body["expires_at"] >= created.body["tokens_expire_at"]
    short = stack.request("POST", "/sessions", {"call_id": "call-1", "functions": ["f"], "token_expiry_secs": 60})
    assert short.body["tokens_expire_at"] <= int(time.time()) + 60
    assert short.body["expires_at"] == created.body["expires_at"]  # never shortened
    minted = stack.request("POST", "/sessions/call-1/tokens", {"function": "f", "token_expiry_secs": 120})
    assert minted.status == 201 and minted.body["expires_at"] <= int(time.time()) + 120
    assert tokens.parse(minted.body["token"]).expiry == str(minted.body["expires_at"])  # type: ignore[union-attr]


def test_a_mint_with_a_longer_lifetime_keeps_the_session_alive_as_long(make_stack: Callable[..., HandlerStack]) -> None:
    stack = make_stack(SESSION_TTL_SECS="600", REVOCATION_CHECK="true")
    stack.create("call-1")
    minted = stack.request("POST", "/sessions/call-1/tokens", {"function": "f", "token_expiry_secs": 7200})
    assert minted.status == 201
    session = stack.request("POST", "/sessions", {"call_id": "call-1"})  # a merge: answers the expiry
    assert session.body["expires_at"] >= minted.body["expires_at"]


@pytest.mark.parametrize("route", ["/sessions", "/sessions/call-1/tokens"])
def test_a_lifetime_beyond_the_stacks_maximum_is_400_lifetime_exceeded(stack: HandlerStack, route: str) -> None:
    stack.create("call-1")
    day = int(stack.account.environment["MAX_TOKEN_LIFETIME_SECS"])
    body = {"call_id": "call-1", "function": "f"} if route == "/sessions" else {"function": "f"}
    assert stack.request("POST", route, {**body, "token_expiry_secs": day}).status in (200, 201)
    reply = stack.request("POST", route, {**body, "token_expiry_secs": day + 1})
    assert (reply.status, reply.body["error"]) == (400, "lifetime_exceeded")
    for bad in (0, -1, 1.5, 3600.0, "3600", True, [60]):
        reply = stack.request("POST", route, {**body, "token_expiry_secs": bad})
        assert (reply.status, reply.body["error"]) == (400, "invalid_token_expiry"), bad


# -- an ended call's tokens stay refused ----------------------------------------------------------


@pytest.mark.parametrize("late", [False, True], ids=["restart-naming-it", "late-start-after-a-restart"])
def test_no_later_start_makes_an_ended_calls_tokens_valid_again(strict: Any, late: bool) -> None:
    """A restart naming the ended call's incarnation, or the ended call's own start retried late
    (restart: false) after the call id was started again: 409 incarnation_retired, nothing written."""
    start = {"call_id": "call-1", "incarnation": "0badcafe", "restart": False}
    assert strict.request("POST", "/sessions", start).status == 201
    token = local_token(strict, "call-1", "f", "0badcafe")
    assert valid(strict, "call-1", "f", token) == (True, None)
    assert strict.request("DELETE", "/sessions/call-1").body == {"ended": True}
    if late:
        assert strict.request("POST", "/sessions", {"call_id": "call-1", "metadata": {"n": 2}}).status == 201
        again = strict.request("POST", "/sessions", {**start, "metadata": {"stale": 1}})
    else:
        again = strict.request("POST", "/sessions", {**start, "restart": True, "metadata": {"stale": 1}})
    assert (again.status, again.body["error"]) == (409, "incarnation_retired")
    assert valid(strict, "call-1", "f", token) == (False, "session_ended")
    assert strict.request("GET", "/sessions/call-1/metadata").body["metadata"] == ({"n": 2} if late else {})
    fresh = strict.request("POST", "/sessions", {**start, "incarnation": "0badcaff", "restart": True})
    assert fresh.status == (200 if late else 201)
    assert valid(strict, "call-1", "f", local_token(strict, "call-1", "f", "0badcaff")) == (True, None)
    assert valid(strict, "call-1", "f", token) == (False, "session_ended")
