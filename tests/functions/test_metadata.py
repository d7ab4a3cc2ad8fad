"""GET, PATCH and DELETE /sessions/{call_id}/metadata."""

from __future__ import annotations

import json
import time
from typing import Any

from session_core.store import Attr, DynamoSessionStore
from session_rules.limits import MAX_METADATA_BYTES

from tests.support.handler_stack import HandlerStack

VALUES: dict[str, Any] = {
    "int": 1,
    "float": 1.0,
    "big": 2**70,
    "small": 1e-300,
    "text": "ünïcødé ✓ 😀",
    "null": None,
    "yes": True,
    "no": False,
    "list": [1, "two", {"three": [3.5]}],
    "nested": {"a": {"b": {"c": []}}},
}


def metadata(stack: HandlerStack, call_id: str) -> dict[str, Any]:
    reply = stack.request("GET", f"/sessions/{call_id}/metadata")
    assert reply.status == 200
    assert reply.body["call_id"] == call_id
    return dict(reply.body["metadata"])


def expires_at(stack: HandlerStack, call_id: str) -> int:
    item = stack.account.dynamodb.get_item(TableName=stack.account.table_name, Key={Attr.KEY: {"S": call_id}})["Item"]
    return int(item[Attr.EXPIRES_AT]["N"])


def test_get_of_unknown_session_is_empty(stack: HandlerStack) -> None:
    reply = stack.request("GET", "/sessions/nobody/metadata")
    assert (reply.status, reply.body) == (200, {"call_id": "nobody", "metadata": {}})


def test_patch_both_forms_merge(stack: HandlerStack) -> None:
    stack.create("call-1", {"a": 1, "b": 2})
    reply = stack.request("PATCH", "/sessions/call-1/metadata", {"metadata": {"b": 20, "c": 30}})
    assert (reply.status, reply.body) == (200, {"call_id": "call-1", "metadata": {"a": 1, "b": 20, "c": 30}})
    reply = stack.request("PATCH", "/sessions/call-1/metadata", {"key": "d", "value": {"x": [1]}})
    assert reply.body["metadata"] == {"a": 1, "b": 20, "c": 30, "d": {"x": [1]}}
    assert metadata(stack, "call-1") == reply.body["metadata"]


def test_values_come_back_exactly_as_sent(stack: HandlerStack) -> None:
    stack.request("PATCH", "/sessions/call-1/metadata", {"metadata": VALUES})
    raw = stack.request("GET", "/sessions/call-1/metadata").raw["body"]
    back = json.loads(raw)["metadata"]
    assert back == VALUES
    assert {k: type(v) for k, v in back.items()} == {k: type(v) for k, v in VALUES.items()}


def test_patch_of_unknown_session_creates_it(stack: HandlerStack) -> None:
    reply = stack.request("PATCH", "/sessions/new-call/metadata", {"key": "k", "value": "v"})
    assert (reply.status, reply.body["metadata"]) == (200, {"k": "v"})
    assert stack.request("POST", "/sessions/new-call/tokens", {"function": "f"}).status == 201


def test_patch_refreshes_expiry(stack: HandlerStack) -> None:
    ttl = int(stack.account.environment["SESSION_TTL_SECS"])
    earlier = DynamoSessionStore(stack.account.table_name, stack.account.dynamodb, clock=lambda: time.time() - 600)
    earlier.create("call-1", {}, ttl)
    before = expires_at(stack, "call-1")
    stack.request("PATCH", "/sessions/call-1/metadata", {"key": "k", "value": 1})
    assert expires_at(stack, "call-1") >= before + 600


def test_patch_of_ended_session_is_refused(stack: HandlerStack) -> None:
    stack.create("call-1")
    stack.request("DELETE", "/sessions/call-1")
    reply = stack.request("PATCH", "/sessions/call-1/metadata", {"key": "k", "value": 1})
    assert (reply.status, reply.body["error"]) == (409, "session_ended")
    assert metadata(stack, "call-1") == {}


def test_delete(stack: HandlerStack) -> None:
    stack.create("call-1", {"a": 1})
    assert stack.request("DELETE", "/sessions/call-1/metadata").body == {"deleted": True}
    assert metadata(stack, "call-1") == {}
    assert stack.request("DELETE", "/sessions/call-1/metadata").body == {"deleted": False}
    assert stack.request("DELETE", "/sessions/nobody/metadata").body == {"deleted": False}
    assert stack.request("POST", "/sessions/call-1/tokens", {"function": "f"}).status == 201  # session stays


def test_too_large_is_413_and_keeps_what_was_there(stack: HandlerStack) -> None:
    half = "x" * (MAX_METADATA_BYTES // 2)
    stack.create("call-1", {"first": half})
    reply = stack.request("PATCH", "/sessions/call-1/metadata", {"key": "second", "value": half})
    assert (reply.status, reply.body["error"]) == (413, "metadata_too_large")
    assert metadata(stack, "call-1") == {"first": half}
    reply = stack.request("PATCH", "/sessions/call-1/metadata", {"metadata": {"first": "x" * (MAX_METADATA_BYTES + 1)}})
    assert (reply.status, reply.body["error"]) == (413, "metadata_too_large")
    assert metadata(stack, "call-1") == {"first": half}


def test_bad_patch_bodies_are_400(stack: HandlerStack) -> None:
    for body, code in [
        ({}, "missing_field"),
        ({"key": "k"}, "missing_field"),
        ({"value": 1}, "missing_field"),
        ({"key": "", "value": 1}, "invalid_metadata"),
        ({"key": "k" * 129, "value": 1}, "invalid_metadata"),
        ({"key": 5, "value": 1}, "invalid_metadata"),
        ({"metadata": [1]}, "invalid_metadata"),
        ({"metadata": {"": 1}}, "invalid_metadata"),
    ]:
        reply = stack.request("PATCH", "/sessions/call-1/metadata", body)
        assert (reply.status, reply.body["error"]) == (400, code), body


def test_invalid_path_call_id_is_400(stack: HandlerStack) -> None:
    for method, body in [("GET", None), ("PATCH", {"key": "k", "value": 1}), ("DELETE", None)]:
        reply = stack.request(method, "/sessions/a%20b/metadata", body)
        assert (reply.status, reply.body["error"]) == (400, "invalid_call_id"), method


def test_a_patch_with_both_forms_is_refused_whole(stack: HandlerStack) -> None:
    stack.create("call-both", {"a": 1})
    reply = stack.request("PATCH", "/sessions/call-both/metadata", {"metadata": {"x": 1}, "key": "y", "value": 2})
    assert (reply.status, reply.body["error"]) == (400, "invalid_body")
    assert stack.request("GET", "/sessions/call-both/metadata").body["metadata"] == {"a": 1}
