"""Metadata numbers through the handlers: each comes back with the value it was sent with, or the
request is refused (400 invalid_json) and nothing changes. Bodies are sent as raw text, so the
numbers arrive spelt as a client wrote them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.handler_stack import HandlerStack

CHANGED_BY_A_DOUBLE = [
    "0.10000000000000000000001",
    "9007199254740993.0",
    "123456789.123456789123",
    "1e999999999999999999999",  # past even Decimal's exponents: once a 500
]


def patch_raw(stack: HandlerStack, call_id: str, body: str) -> Any:
    name, _, _ = stack.route("PATCH", f"/sessions/{call_id}/metadata")
    return stack.http(name, stack.event("PATCH", f"/sessions/{call_id}/metadata", raw_body=body.encode()))


def raw_value(stack: HandlerStack, call_id: str, key: str) -> str:
    """The value's JSON text exactly as the service answers it (not re-parsed through a float)."""
    reply = stack.request("GET", f"/sessions/{call_id}/metadata")
    body = reply.raw["body"]
    start = body.index(f'"{key}":') + len(key) + 3
    end = start
    while end < len(body) and body[end] not in ",}":
        end += 1
    return str(body[start:end])


@pytest.mark.parametrize("text", CHANGED_BY_A_DOUBLE)
def test_a_number_that_would_change_is_refused_and_nothing_is_stored(stack: HandlerStack, text: str) -> None:
    stack.create("call-num", {"kept": 1.5})
    for body in ('{"metadata": {"n": ' + text + "}}", '{"key": "n", "value": [' + text + "]}"):
        reply = patch_raw(stack, "call-num", body)
        assert (reply.status, reply.body["error"]) == (400, "invalid_json"), body
        assert text in reply.body["message"]
    create = stack.http(
        "create",
        stack.event(
            "POST", "/sessions", raw_body=b'{"call_id": "call-new", "metadata": {"n": ' + text.encode() + b"}}"
        ),
    )
    assert (create.status, create.body["error"]) == (400, "invalid_json")
    assert stack.request("GET", "/sessions/call-num/metadata").body["metadata"] == {"kept": 1.5}
    assert stack.request("GET", "/sessions/call-new/metadata").body["metadata"] == {}


@pytest.mark.parametrize(
    "text", ["0.1", "1e5", "-0.0", "5e-324", "1.7976931348623157e308", "9007199254740993", "1" + "0" * 300]
)
def test_a_number_a_double_keeps_comes_back_with_its_value(stack: HandlerStack, text: str) -> None:
    stack.create("call-num")
    assert patch_raw(stack, "call-num", '{"key": "n", "value": ' + text + "}").status == 200
    assert Decimal(raw_value(stack, "call-num", "n")) == Decimal(text)


json_numbers = st.builds(
    lambda sign, whole, fraction, exponent: f"{sign}{whole}{fraction}{exponent}",
    st.sampled_from(["", "-"]),
    st.one_of(st.just("0"), st.from_regex(r"[1-9][0-9]{0,20}", fullmatch=True)),
    st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,20}", fullmatch=True)),
    st.one_of(st.just(""), st.from_regex(r"[eE][+-]?[0-9]{1,3}", fullmatch=True)),
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(text=json_numbers)
def test_any_number_comes_back_with_its_value_or_changes_nothing(stack: HandlerStack, text: str) -> None:
    stack.create("call-prop", {"n": "before"})
    reply = patch_raw(stack, "call-prop", '{"key": "n", "value": ' + text + "}")
    if reply.status == 400:
        assert reply.body["error"] == "invalid_json"
        assert stack.request("GET", "/sessions/call-prop/metadata").body["metadata"] == {"n": "before"}
    else:
        assert reply.status == 200, reply
        assert Decimal(raw_value(stack, "call-prop", "n")) == Decimal(text)
        stack.request("PATCH", "/sessions/call-prop/metadata", {"key": "n", "value": "before"})
