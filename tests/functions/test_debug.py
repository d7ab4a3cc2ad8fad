"""POST /tokens/debug: 403 unless the stack runs with DEBUG_MODE=true; then the SDK's debug_token view."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from signalwire.core.security.session_manager import SessionManager

from local.lambda_runtime import http_event
from tests.support.handler_stack import HandlerStack


def sdk_debug(key: str, token: str) -> dict[str, Any]:
    """What the SDK's debug_token answers with debug mode on."""
    manager = SessionManager(secret_key=key)
    manager._debug_mode = True  # the SDK has no public switch for it
    return manager.debug_token(token)


def test_disabled_by_default_whatever_the_body(stack: HandlerStack) -> None:
    events = [
        stack.event("POST", "/tokens/debug", {"token": "dG9rZW4="}),
        stack.event("POST", "/tokens/debug", {}),
        http_event("POST", "/tokens/debug", raw_body=b"{"),
    ]
    for event in events:
        reply = stack.http("debug", event)
        assert reply.status == 403
        assert reply.body == {"error": "debug_disabled", "message": "debug mode not enabled"}


def test_debug_output_matches_the_sdk(make_stack: Callable[..., HandlerStack]) -> None:
    stack = make_stack(DEBUG_MODE="true")
    call_id = "a-long-call-id.with.dots"
    stack.create(call_id)
    token = stack.mint(call_id, "get_weather")
    reply = stack.request("POST", "/tokens/debug", {"token": token})
    assert reply.status == 200
    expected = sdk_debug(stack.account.signing_key, token)
    assert reply.body["valid_format"] is True
    assert reply.body["components"] == expected["components"]
    assert (
        set(reply.body["status"])
        == set(expected["status"])
        == {
            "current_time",
            "is_expired",
            "expires_in_seconds",
        }
    )
    assert reply.body["status"]["is_expired"] is False
    assert 0 < reply.body["status"]["expires_in_seconds"] <= int(stack.account.environment["TOKEN_EXPIRY_SECS"])


def test_debug_never_shows_call_id_or_signature_in_full(make_stack: Callable[..., HandlerStack]) -> None:
    stack = make_stack(DEBUG_MODE="true")
    call_id = "secret-call-identifier"
    stack.create(call_id)
    token = stack.mint(call_id, "f")
    signature = base64.urlsafe_b64decode(token).decode().rsplit(".", 4)[4]
    reply = stack.request("POST", "/tokens/debug", {"token": token})
    components = reply.body["components"]
    assert components["call_id"] == call_id[:8] + "..."
    assert components["signature"] == signature[:8] + "..."
    assert call_id[:9] not in reply.raw["body"]
    assert signature[:9] not in reply.raw["body"]


def test_short_call_id_is_shown_as_is(make_stack: Callable[..., HandlerStack]) -> None:
    stack = make_stack(DEBUG_MODE="true")
    token = SessionManager(secret_key="k").generate_token("f", "short")
    assert stack.request("POST", "/tokens/debug", {"token": token}).body["components"]["call_id"] == "short"


def test_expired_token(make_stack: Callable[..., HandlerStack]) -> None:
    stack = make_stack(DEBUG_MODE="true")
    token = SessionManager(secret_key="k", token_expiry_secs=-60).generate_token("f", "c")
    status = stack.request("POST", "/tokens/debug", {"token": token}).body["status"]
    assert (status["is_expired"], status["expires_in_seconds"]) == (True, 0)


def test_not_a_token(make_stack: Callable[..., HandlerStack]) -> None:
    stack = make_stack(DEBUG_MODE="true")
    three_parts = base64.urlsafe_b64encode(b"a.b.c").decode()
    reply = stack.request("POST", "/tokens/debug", {"token": three_parts})
    assert reply.body == {"valid_format": False, "parts_count": 3, "token_length": len(three_parts)}
    assert reply.body == sdk_debug("k", three_parts)
    undecodable = base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode()  # not UTF-8 inside
    reply = stack.request("POST", "/tokens/debug", {"token": undecodable})
    assert reply.status == 200
    assert set(reply.body) == set(sdk_debug("k", undecodable)) == {"valid_format", "error", "token_length"}
    assert (reply.body["valid_format"], reply.body["token_length"]) == (False, len(undecodable))


def test_bad_request_with_debug_on(make_stack: Callable[..., HandlerStack]) -> None:
    stack = make_stack(DEBUG_MODE="true")
    bad = [({}, "missing_field"), ({"token": ""}, "invalid_token"), ({"token": "A" * 1025}, "invalid_token")]
    for body, code in bad:
        reply = stack.request("POST", "/tokens/debug", body)
        assert (reply.status, reply.body["error"]) == (400, code), body
