"""POST /sessions: 201 for a new session, 200 (metadata merged) for an active one."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from session_core.store import metadata_size
from session_rules.limits import MAX_METADATA_BYTES
from signalwire.core.security.session_manager import SessionManager

from tests.support.handler_stack import HandlerStack
from tests.support.logs import LogCapture


def test_new_session_is_201_with_its_expiry(stack: HandlerStack) -> None:
    ttl = int(stack.account.environment["SESSION_TTL_SECS"])
    before = int(time.time())
    reply = stack.request("POST", "/sessions", {"call_id": "call-1", "metadata": {"a": 1}})
    after = int(time.time())
    assert reply.status == 201
    assert set(reply.body) == {"call_id", "expires_at"}
    assert reply.body["call_id"] == "call-1"
    assert before + ttl <= reply.body["expires_at"] <= after + ttl


def test_without_call_id_one_is_generated_like_the_sdk(stack: HandlerStack) -> None:
    first = stack.request("POST", "/sessions", {})
    second = stack.request("POST", "/sessions", {"metadata": {"k": "v"}})
    assert (first.status, second.status) == (201, 201)
    for reply in (first, second):
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", reply.body["call_id"]), reply.body  # 16 bytes, base64url
    assert first.body["call_id"] != second.body["call_id"]


def test_repeat_on_active_session_is_200_and_merges_metadata(stack: HandlerStack) -> None:
    stack.request("POST", "/sessions", {"call_id": "call-1", "metadata": {"a": 1, "b": 2}})
    again = stack.request("POST", "/sessions", {"call_id": "call-1", "metadata": {"b": 3, "c": 4}})
    bare = stack.request("POST", "/sessions", {"call_id": "call-1"})
    assert (again.status, bare.status) == (200, 200)
    assert again.body["call_id"] == bare.body["call_id"] == "call-1"
    got = stack.request("GET", "/sessions/call-1/metadata")
    assert got.body["metadata"] == {"a": 1, "b": 3, "c": 4}


def test_create_after_end_starts_a_fresh_session(stack: HandlerStack) -> None:
    stack.create("call-1", {"old": True})
    assert stack.request("DELETE", "/sessions/call-1").body == {"ended": True}
    reply = stack.request("POST", "/sessions", {"call_id": "call-1", "metadata": {"new": True}})
    assert reply.status == 201
    assert stack.request("GET", "/sessions/call-1/metadata").body["metadata"] == {"new": True}


def test_call_id_edge_values_accepted(stack: HandlerStack) -> None:
    for call_id in ["root.2", "x" * 128, "1c3b8f8e-9d1b-4a57-8f3e-2b7c1d0e4f6a", "~a_b-c.", "-"]:
        reply = stack.request("POST", "/sessions", {"call_id": call_id})
        assert (reply.status, reply.body["call_id"]) == (201, call_id)


def test_invalid_call_ids_are_400(stack: HandlerStack) -> None:
    invalid = [
        "",
        "x" * 129,
        "has space",
        "tab\there",
        "new\nline",
        "a/b",
        "a:b",
        "ünï",
        "+1",
        ".",
        "..",
        42,
        ["a"],
        True,
    ]
    for call_id in invalid:
        reply = stack.request("POST", "/sessions", {"call_id": call_id})
        assert (reply.status, reply.body["error"]) == (400, "invalid_call_id"), call_id


def test_invalid_metadata_is_400(stack: HandlerStack) -> None:
    for metadata in [[], "text", 1, {"": 1}, {"k" * 129: 1}]:
        reply = stack.request("POST", "/sessions", {"call_id": "c", "metadata": metadata})
        assert (reply.status, reply.body["error"]) == (400, "invalid_metadata"), metadata


def test_metadata_up_to_64_kib(stack: HandlerStack) -> None:
    # {"k":"xxx..."}: 8 bytes of JSON around the value
    at_limit = {"k": "x" * (MAX_METADATA_BYTES - 8)}
    assert metadata_size(at_limit) == MAX_METADATA_BYTES
    assert stack.request("POST", "/sessions", {"call_id": "fits", "metadata": at_limit}).status == 201
    over = {"k": "x" * (MAX_METADATA_BYTES - 7)}
    reply = stack.request("POST", "/sessions", {"call_id": "too-big", "metadata": over})
    assert (reply.status, reply.body["error"]) == (413, "metadata_too_large")
    assert stack.request("POST", "/sessions/too-big/tokens", {"function": "f"}).status == 404  # nothing stored


def test_create_with_functions_mints_their_tokens_in_the_same_request(stack: HandlerStack) -> None:
    reply = stack.request("POST", "/sessions", {"call_id": "call-9", "functions": ["f", "g", "f"]})
    assert reply.status == 201 and set(reply.body["tokens"]) == {"f", "g"}
    sdk = SessionManager(secret_key=stack.account.signing_key)
    for name, token in reply.body["tokens"].items():
        assert sdk.validate_tool_token(name, token, "call-9")
    assert reply.body["tokens_expire_at"] <= reply.body["expires_at"] + 900
    again = stack.request("POST", "/sessions", {"call_id": "call-9", "functions": ["h"]})
    assert again.status == 200 and set(again.body["tokens"]) == {"h"}
    plain = stack.request("POST", "/sessions", {"call_id": "call-10"})
    assert "tokens" not in plain.body


def test_restart_false_keeps_an_ended_session_ended(stack: HandlerStack) -> None:
    stack.create("call-11", {"a": 1})
    stack.request("DELETE", "/sessions/call-11")
    refused = stack.request("POST", "/sessions", {"call_id": "call-11", "restart": False, "functions": ["f"]})
    assert (refused.status, refused.body["error"]) == (409, "session_ended")
    minted = stack.request("POST", "/sessions/call-11/tokens", {"function": "f"})
    assert minted.status == 409  # still ended: the refusal started nothing
    fresh = stack.request("POST", "/sessions", {"call_id": "call-12", "restart": False})
    assert fresh.status == 201  # a call id that never had a session starts as usual
    restarted = stack.request("POST", "/sessions", {"call_id": "call-11"})
    assert restarted.status == 201  # the default: a fresh session over the ended one


def test_create_refuses_bad_functions_and_restart_without_writing(stack: HandlerStack) -> None:
    for body, code in [
        ({"call_id": "call-13", "functions": []}, "invalid_function"),
        ({"call_id": "call-13", "functions": ["a.b"]}, "invalid_function"),
        ({"call_id": "call-13", "restart": "no"}, "invalid_body"),
    ]:
        reply = stack.request("POST", "/sessions", body)
        assert (reply.status, reply.body["error"]) == (400, code), body
    assert stack.request("POST", "/sessions/call-13/tokens", {"function": "f"}).status == 404


def test_create_takes_one_function_as_the_mint_route_does(stack: HandlerStack) -> None:
    reply = stack.request("POST", "/sessions", {"call_id": "call-14", "function": "f"})
    assert reply.status == 201 and set(reply.body["tokens"]) == {"f"}
    both = stack.request("POST", "/sessions", {"call_id": "call-15", "function": "f", "functions": ["g"]})
    assert (both.status, both.body["error"]) == (400, "invalid_body")
    assert "not both" in both.body["message"]
    assert stack.request("POST", "/sessions/call-15/tokens", {"function": "f"}).status == 404  # nothing started


def test_a_lifetime_longer_than_validation_accepts_is_a_logged_500_not_tokens(
    make_stack: Callable[..., HandlerStack], logs: LogCapture
) -> None:
    """Every token minted would be refused as lifetime_exceeded: an outage to fix, not bad tokens."""
    stack = make_stack(TOKEN_EXPIRY_SECS="90000", MAX_TOKEN_LIFETIME_SECS="86400")
    stack.create("call-16")  # no tokens asked for: no key needed
    for method, path, body in [
        ("POST", "/sessions", {"call_id": "call-16", "functions": ["f"]}),
        ("POST", "/sessions", {"call_id": "call-17", "functions": ["f"]}),
        ("POST", "/sessions/call-16/tokens", {"function": "f"}),
    ]:
        reply = stack.request(method, path, body)
        assert (reply.status, reply.body["error"]) == (500, "misconfigured"), path
    # A refused create writes nothing: call-17 was never started.
    reply = stack.request("POST", "/sessions/call-17/tokens", {"function": "f"})
    assert (reply.status, reply.body["error"]) == (404, "session_not_found")
    assert any("MAX_TOKEN_LIFETIME_SECS" in r.get("detail", "") for r in logs.records() if r["level"] == "ERROR")
