"""POST /tokens/validate: 200 with valid true, or valid false and the reason; AWS calls only as configured."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from session_rules.limits import MAX_TOKEN_LENGTH
from signalwire.core.security.session_manager import SessionManager

from tests.support.handler_stack import HandlerStack


def sdk(stack: HandlerStack, **kwargs: Any) -> SessionManager:
    return SessionManager(secret_key=stack.account.signing_key, **kwargs)


def reason(stack: HandlerStack, call_id: str, function: str, token: str) -> str | None:
    reply = stack.validate(call_id, function, token)
    assert reply.status == 200, reply
    if reply.body["valid"]:
        assert reply.body == {"valid": True}
        return None
    assert set(reply.body) == {"valid", "reason"}
    return str(reply.body["reason"])


def test_minted_token_is_valid(stack: HandlerStack) -> None:
    stack.create("call-1")
    assert reason(stack, "call-1", "f", stack.mint("call-1", "f")) is None


def test_sdk_token_is_valid_and_unpadded_form_too(stack: HandlerStack) -> None:
    """A token the SDK signs with the same secret validates, padded or not (the TS SDK does not pad)."""
    token = sdk(stack).generate_token("transfer", "root.2")
    assert reason(stack, "root.2", "transfer", token) is None
    assert reason(stack, "root.2", "transfer", token.rstrip("=")) is None


MALFORMED = [
    "not a token",
    base64.urlsafe_b64encode(b"only.four.parts.here").decode(),
    base64.urlsafe_b64encode(b"c.f.notanumber.nonce.sig").decode(),
    "!!!!",
    "A" * MAX_TOKEN_LENGTH,  # the longest token is checked, not refused
]


def test_malformed(stack: HandlerStack) -> None:
    for token in MALFORMED:
        assert reason(stack, "c", "f", token) == "malformed", token


def test_each_reason(stack: HandlerStack) -> None:
    stack.create("call-1")
    token = stack.mint("call-1", "f")
    assert reason(stack, "call-1", "other", token) == "function_mismatch"
    assert reason(stack, "call-2", "f", token) == "call_id_mismatch"
    expired = sdk(stack, token_expiry_secs=-60).generate_token("f", "call-1")
    assert reason(stack, "call-1", "f", expired) == "expired"
    forged = SessionManager(secret_key="another key").generate_token("f", "call-1")
    assert reason(stack, "call-1", "f", forged) == "bad_signature"


def test_sdk_order_of_checks(stack: HandlerStack) -> None:
    """Function before expiry before signature before call id, as the SDK checks them."""
    forged_expired = SessionManager(secret_key="another key", token_expiry_secs=-60).generate_token("f", "call-1")
    assert reason(stack, "call-2", "g", forged_expired) == "function_mismatch"
    assert reason(stack, "call-2", "f", forged_expired) == "expired"
    forged = SessionManager(secret_key="another key").generate_token("f", "call-1")
    assert reason(stack, "call-2", "f", forged) == "bad_signature"


def test_ended_session_still_valid_without_revocation_check(stack: HandlerStack) -> None:
    stack.create("call-1")
    token = stack.mint("call-1", "f")
    stack.request("DELETE", "/sessions/call-1")
    assert reason(stack, "call-1", "f", token) is None  # stateless: the default


def test_revocation_check_rejects_ended_and_unknown_sessions(make_stack: Callable[..., HandlerStack]) -> None:
    stack = make_stack(REVOCATION_CHECK="true")
    stack.create("call-1")
    token = stack.mint("call-1", "f")
    assert reason(stack, "call-1", "f", token) is None
    stack.request("DELETE", "/sessions/call-1")
    assert reason(stack, "call-1", "f", token) == "session_ended"
    unknown = sdk(stack).generate_token("f", "never-created")
    assert reason(stack, "never-created", "f", unknown) == "session_ended"


BAD_REQUESTS = [
    ({"function": "f", "token": "t"}, "missing_field"),
    ({"call_id": "c", "token": "t"}, "missing_field"),
    ({"call_id": "c", "function": "f"}, "missing_field"),
    ({"call_id": "", "function": "f", "token": "t"}, "invalid_call_id"),
    ({"call_id": "a b", "function": "f", "token": "t"}, "invalid_call_id"),
    ({"call_id": "c", "function": "a.b", "token": "t"}, "invalid_function"),
    ({"call_id": "c", "function": "f", "token": ""}, "invalid_token"),
    ({"call_id": "c", "function": "f", "token": 5}, "invalid_token"),
    ({"call_id": "c", "function": "f", "token": "A" * (MAX_TOKEN_LENGTH + 1)}, "invalid_token"),
]


def test_bad_request_is_400(stack: HandlerStack) -> None:
    for body, code in BAD_REQUESTS:
        reply = stack.request("POST", "/tokens/validate", body)
        assert (reply.status, reply.body["error"]) == (400, code), body


def _validate_calls(stack: HandlerStack, call_id: str, token: str) -> list[str]:
    """The AWS calls one validate request makes."""
    before = len(stack.calls)
    assert reason(stack, call_id, "f", token) is None
    return [op for fn, op in stack.calls[before:] if fn == "validate"]


def test_warm_stateless_validate_makes_no_aws_call(stack: HandlerStack) -> None:
    stack.create("call-1")
    token = stack.mint("call-1", "f")
    stack.reset()  # a cold validate container
    cold = _validate_calls(stack, "call-1", token)
    assert cold and set(cold) == {"secretsmanager:GetSecretValue"}  # the key, once per container
    assert _validate_calls(stack, "call-1", token) == []
    assert _validate_calls(stack, "call-1", stack.mint("call-1", "f")) == []


def test_warm_validate_with_revocation_check_makes_one_read(make_stack: Callable[..., HandlerStack]) -> None:
    stack = make_stack(REVOCATION_CHECK="true")
    stack.create("call-1")
    token = stack.mint("call-1", "f")
    _validate_calls(stack, "call-1", token)  # warm up
    assert _validate_calls(stack, "call-1", token) == ["dynamodb:GetItem"]
    assert _validate_calls(stack, "call-1", token) == ["dynamodb:GetItem"]
