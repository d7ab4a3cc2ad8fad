"""DELETE /sessions/{call_id}: end a session once; its metadata goes and minting stops."""

from __future__ import annotations

from tests.support.handler_stack import HandlerStack


def test_end_once_then_false(stack: HandlerStack) -> None:
    stack.create("call-1", {"a": 1})
    first = stack.request("DELETE", "/sessions/call-1")
    assert (first.status, first.body) == (200, {"ended": True})
    second = stack.request("DELETE", "/sessions/call-1")
    assert (second.status, second.body) == (200, {"ended": False})


def test_end_of_unknown_session_is_false(stack: HandlerStack) -> None:
    reply = stack.request("DELETE", "/sessions/nobody")
    assert (reply.status, reply.body) == (200, {"ended": False})


def test_ended_session_loses_metadata_and_tokens(stack: HandlerStack) -> None:
    stack.create("call-1", {"a": 1})
    stack.request("DELETE", "/sessions/call-1")
    assert stack.request("GET", "/sessions/call-1/metadata").body["metadata"] == {}
    reply = stack.request("POST", "/sessions/call-1/tokens", {"function": "f"})
    assert (reply.status, reply.body["error"]) == (409, "session_ended")


def test_ending_one_session_leaves_the_others(stack: HandlerStack) -> None:
    stack.create("call-1")
    stack.create("call-2", {"b": 2})
    stack.request("DELETE", "/sessions/call-1")
    assert stack.request("GET", "/sessions/call-2/metadata").body["metadata"] == {"b": 2}
    assert stack.request("POST", "/sessions/call-2/tokens", {"function": "f"}).status == 201


def test_invalid_path_call_id_is_400(stack: HandlerStack) -> None:
    reply = stack.request("DELETE", "/sessions/" + "x" * 129)
    assert (reply.status, reply.body["error"]) == (400, "invalid_call_id")
