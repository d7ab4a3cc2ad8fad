"""POST /sessions/{call_id}/tokens: SDK-compatible tokens for an active session's functions."""

from __future__ import annotations

import time

from session_core.store import DynamoSessionStore
from session_rules.limits import MAX_BATCH
from signalwire.core.security.session_manager import SessionManager

from tests.support.handler_stack import HandlerStack


def sdk(stack: HandlerStack) -> SessionManager:
    """The SDK's own SessionManager keyed with the stack's signing secret."""
    return SessionManager(secret_key=stack.account.signing_key)


def test_one_function_is_201_and_the_sdk_accepts_the_token(stack: HandlerStack) -> None:
    stack.create("call-1")
    expiry_secs = int(stack.account.environment["TOKEN_EXPIRY_SECS"])
    before = int(time.time())
    reply = stack.request("POST", "/sessions/call-1/tokens", {"function": "get_weather"})
    after = int(time.time())
    assert reply.status == 201
    assert set(reply.body) == {"call_id", "token", "expires_at"}
    assert reply.body["call_id"] == "call-1"
    assert before + expiry_secs <= reply.body["expires_at"] <= after + expiry_secs
    assert sdk(stack).validate_token("call-1", "get_weather", reply.body["token"])
    assert not sdk(stack).validate_token("call-1", "other", reply.body["token"])
    assert not SessionManager(secret_key="another key").validate_token("call-1", "get_weather", reply.body["token"])


def test_batch_of_one_and_of_the_maximum(stack: HandlerStack) -> None:
    stack.create("call-1")
    for count in (1, MAX_BATCH):
        names = [f"fn_{i}" for i in range(count)]
        reply = stack.request("POST", "/sessions/call-1/tokens", {"functions": names})
        assert reply.status == 201, count
        assert set(reply.body) == {"call_id", "tokens", "expires_at"}
        assert sorted(reply.body["tokens"]) == sorted(names)
        for name, token in reply.body["tokens"].items():
            assert sdk(stack).validate_token("call-1", name, token)
    assert len(set(reply.body["tokens"].values())) == MAX_BATCH  # each its own nonce


def test_batch_repeats_collapse(stack: HandlerStack) -> None:
    stack.create("call-1")
    reply = stack.request("POST", "/sessions/call-1/tokens", {"functions": ["a", "b", "a"]})
    assert (reply.status, sorted(reply.body["tokens"])) == (201, ["a", "b"])


def test_batch_too_large_or_empty_is_400(stack: HandlerStack) -> None:
    stack.create("call-1")
    for names in ([f"fn_{i}" for i in range(MAX_BATCH + 1)], [], "fn", None):
        reply = stack.request("POST", "/sessions/call-1/tokens", {"functions": names})
        assert (reply.status, reply.body["error"]) == (400, "invalid_function"), names


def test_invalid_function_names_are_400(stack: HandlerStack) -> None:
    stack.create("call-1")
    for name in ["", "a.b", "has space", "x" * 65, "ümlaut", 7, None]:
        for body in ({"function": name}, {"functions": ["ok", name]}):
            reply = stack.request("POST", "/sessions/call-1/tokens", body)
            assert (reply.status, reply.body["error"]) == (400, "invalid_function"), body
    assert stack.request("POST", "/sessions/call-1/tokens", {"function": "A-z_09" + "x" * 58}).status == 201


def test_neither_or_both_fields_is_400(stack: HandlerStack) -> None:
    stack.create("call-1")
    for body, code in (({}, "missing_field"), ({"function": "a", "functions": ["b"]}, "invalid_body")):
        reply = stack.request("POST", "/sessions/call-1/tokens", body)
        assert (reply.status, reply.body["error"]) == (400, code), body


def test_unknown_session_is_404(stack: HandlerStack) -> None:
    reply = stack.request("POST", "/sessions/nobody/tokens", {"function": "f"})
    assert (reply.status, reply.body["error"]) == (404, "session_not_found")


def test_ended_session_is_409_session_ended(stack: HandlerStack) -> None:
    """An ended session stays ended: minting says so, as PATCH does, rather than 'not found'."""
    stack.create("call-1")
    stack.request("DELETE", "/sessions/call-1")
    for body in ({"function": "f"}, {"functions": ["f", "g"]}):
        reply = stack.request("POST", "/sessions/call-1/tokens", body)
        assert (reply.status, reply.body["error"]) == (409, "session_ended")


def test_expired_session_is_404(stack: HandlerStack) -> None:
    """An item past its expiry counts as absent even though TTL has not deleted it yet."""
    past = DynamoSessionStore(stack.account.table_name, stack.account.dynamodb, clock=lambda: time.time() - 7200)
    past.create("old-call", {}, 3600)
    reply = stack.request("POST", "/sessions/old-call/tokens", {"function": "f"})
    assert (reply.status, reply.body["error"]) == (404, "session_not_found")


def test_call_id_in_the_path_arrives_decoded_and_is_not_decoded_again(stack: HandlerStack) -> None:
    """API Gateway decodes the path once (`%2D` is `-`); the handler never decodes it again."""
    stack.create("root.2-x")
    reply = stack.request("POST", "/sessions/root.2%2Dx/tokens", {"function": "f"})
    assert (reply.status, reply.body["call_id"]) == (201, "root.2-x")
    assert sdk(stack).validate_token("root.2-x", "f", reply.body["token"])
    stack.create("XA")
    twice = stack.request("POST", "/sessions/X%2541/tokens", {"function": "f"})  # the gateway hands over X%41
    assert (twice.status, twice.body["error"]) == (400, "invalid_call_id")


def test_invalid_path_call_id_is_400(stack: HandlerStack) -> None:
    # Decoded by the gateway to a tab, or to U+FFFD (not UTF-8): refused as ids, like the others.
    for raw in ["%20", "x" * 129, "a%3Ab", "%2E%2E", "%E6%97%A5", "a~b%25", "%ff", "a%09b"]:
        reply = stack.request("POST", f"/sessions/{raw}/tokens", {"function": "f"})
        assert (reply.status, reply.body["error"]) == (400, "invalid_call_id"), raw
