"""Malformed requests to every HTTP handler, in-process: every answer is JSON, never a 5xx.

Tables of known-bad input (wrong JSON type or out-of-range value per field, huge fields,
invalid UTF-8, bad base64, deep nesting, percent escapes in the path) must each get a
JSON 4xx with an error code and a message. Hypothesis then throws arbitrary JSON, text,
bytes and path segments at each route: whatever it sends, the answer is a JSON object
with a status below 500 (a well-formed request may of course succeed).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local import aws as aws_local
from local import template
from tests.support.handler_stack import HandlerStack

CALL = "fuzz-call"
FN = "lookup"
HUGE = "x" * 1_000_000
NON_STRINGS: list[Any] = [None, True, 0, -1, 1.5, 1e308, [], ["x"], {}, {"a": "b"}]

# Every route, with a body it accepts (None: it reads no body). `{call_id}` is filled in.
ROUTES: dict[tuple[str, str], dict[str, Any] | None] = {
    ("POST", "/sessions"): {"call_id": CALL, "metadata": {"a": 1}},
    ("POST", "/sessions/{call_id}/tokens"): {"function": FN},
    ("POST", "/tokens/validate"): {"call_id": CALL, "function": FN, "token": "set-by-fixture"},
    ("POST", "/tokens/debug"): {"token": "set-by-fixture"},
    ("GET", "/sessions/{call_id}/metadata"): None,
    ("PATCH", "/sessions/{call_id}/metadata"): {"metadata": {"a": 1}},
    ("DELETE", "/sessions/{call_id}/metadata"): None,
    ("DELETE", "/sessions/{call_id}"): None,
}
BODY_ROUTES = [route for route, body in ROUTES.items() if body is not None]
PATH_ROUTES = [route for route in ROUTES if "{call_id}" in route[1]]

# Values each field refuses (any 4xx), beyond the wrong JSON types in NON_STRINGS.
BAD_VALUES: dict[str, list[Any]] = {
    "call_id": ["", " ", "a b", "a\tb", "a\nb", "\x00", "\u200b", "\ud800", "x" * 129, HUGE],
    "function": ["", "a.b", "a b", "é", "../x", "x" * 65, HUGE],
    "token": ["", "x" * 1025, HUGE],
    "functions": [[], "f", {"f": 1}, ["f"] * 65, [1], [None], ["a.b"], [["f"]]],
    "metadata": [[], "x", 1, None, True, {"": 1}, {"k" * 129: 1}, {"big": "x" * 70_000}],
    "key": ["", "k" * 129],
}
# A field may legitimately be null where the contract makes it optional.
NULL_ALLOWED = {("POST", "/sessions", "call_id")}


def fill(path: str, call_id: str = CALL) -> str:
    return path.replace("{call_id}", call_id)


@pytest.fixture
def fuzz_stack(make_stack: Callable[..., HandlerStack]) -> HandlerStack:
    """A stack with debug on (so /tokens/debug parses its body), one session and a valid token."""
    stack = make_stack(DEBUG_MODE="true")
    stack.create(CALL)
    token = stack.mint(CALL, FN)
    ROUTES[("POST", "/tokens/validate")]["token"] = token  # type: ignore[index]
    ROUTES[("POST", "/tokens/debug")]["token"] = token  # type: ignore[index]
    return stack


def send(
    stack: HandlerStack,
    method: str,
    path: str,
    *,
    body: str | None = None,
    base64_body: str | None = None,
    raw: bytes | None = None,
) -> Any:
    """Send one request as API Gateway would deliver it; the reply must be JSON (conftest checks).

    None when no route matches the decoded path (a `%2F` is a real `/` to an HTTP API):
    API Gateway answers that 404 itself, no function runs.
    """
    try:
        name, _, _ = stack.route(method, path)
    except LookupError:
        return None
    event = stack.event(method, path, raw_body=raw)
    if body is not None:
        event.update(body=body, isBase64Encoded=False)
    if base64_body is not None:
        event.update(body=base64_body, isBase64Encoded=True)
    event["headers"]["content-type"] = "application/json"
    reply = stack.http(name, event)
    assert reply.status < 500, (method, path, reply)
    reply.raw["body"].encode("utf-8")  # the Lambda runtime sends it as UTF-8: this must not fail
    if reply.status >= 400:
        assert isinstance(reply.body.get("error"), str) and isinstance(reply.body.get("message"), str), reply
    return reply


def is_4xx(reply: Any) -> bool:
    return 400 <= int(reply.status) < 500


def test_every_template_route_is_fuzzed() -> None:
    functions = template.functions({aws_local.TABLE_ID: "t", aws_local.SECRET_ID: "s"})
    routes = {(r.method, r.path) for fn in functions.values() for r in fn.routes}
    assert routes == set(ROUTES)


def test_the_good_bodies_are_accepted(fuzz_stack: HandlerStack) -> None:
    """The baseline every bad case below departs from: so a 4xx there is due to the change."""
    for (method, path), body in ROUTES.items():
        reply = send(fuzz_stack, method, fill(path), body=None if body is None else json.dumps(body))
        assert 200 <= reply.status < 300, (method, path, reply)


def missing_and_non_object_bodies(stack: HandlerStack, method: str, path: str) -> None:
    url = fill(path)
    cases = ["", " ", "null", "[]", "[{}]", '"text"', "1", "true", "{", "}", "{'a': 1}", '{"a": NaN}', "\ufeff{}"]
    for text in cases:
        assert is_4xx(send(stack, method, url, body=text)), text
    name, _, _ = stack.route(method, url)
    event = stack.event(method, url)
    event.pop("body", None)
    assert is_4xx(stack.http(name, event))


def each_required_field_missing(stack: HandlerStack, method: str, path: str) -> None:
    good = ROUTES[(method, path)]
    assert good is not None
    required = [] if (method, path) == ("POST", "/sessions") else list(good)  # create needs nothing
    for field in required:
        body = {k: v for k, v in good.items() if k != field}
        assert is_4xx(send(stack, method, fill(path), body=json.dumps(body))), field


def wrong_type_or_value_per_field(stack: HandlerStack, method: str, path: str) -> None:
    good = ROUTES[(method, path)]
    assert good is not None
    for field in good:
        wrong = [v for v in NON_STRINGS if field != "metadata" or not isinstance(v, dict)]
        for value in wrong + BAD_VALUES[field]:
            if value is None and (method, path, field) in NULL_ALLOWED:
                continue
            body = json.dumps({**good, field: value})
            assert is_4xx(send(stack, method, fill(path), body=body)), (field, str(value)[:40])
    if path.endswith("/metadata"):  # the other PATCH form: {"key", "value"}
        for key in [*NON_STRINGS, *BAD_VALUES["key"]]:
            assert is_4xx(send(stack, method, fill(path), body=json.dumps({"key": key, "value": 1}))), key
        assert is_4xx(send(stack, method, fill(path), body=json.dumps({"key": "k"})))


def invalid_utf8_and_bad_base64(stack: HandlerStack, method: str, path: str) -> None:
    url = fill(path)
    good = json.dumps(ROUTES[(method, path)])
    invalid_utf8 = [
        b"\xff\xfe",
        b'{"call_id": "\xc3\x28"}',
        b'{"token": "\xed\xa0\x80"}',  # an encoded surrogate
        good.encode("utf-16"),  # valid JSON, but not UTF-8
        good.encode("utf-32"),
        good.encode("utf-16-be"),
    ]
    for raw in invalid_utf8:
        assert is_4xx(send(stack, method, url, raw=raw)), raw[:20]
        assert is_4xx(send(stack, method, url, base64_body=base64.b64encode(raw).decode())), raw[:20]
    for text in ['{"metadata": {"k": "\\ud800"}}', '{"metadata": {"\\udc00": 1}}', '{"token": "\\uDBFF"}']:
        assert is_4xx(send(stack, method, url, body=text)), text  # a lone surrogate, escaped
    for encoded in ["!!!", "e30", "e30=\n", "=", "ZZZZ====", base64.b64encode(b"[]").decode()]:
        assert is_4xx(send(stack, method, url, base64_body=encoded)), encoded
    # A base64 body API Gateway marks as such is decoded: the same request then succeeds.
    assert send(stack, method, url, base64_body=base64.b64encode(good.encode()).decode()).status < 300


BAD_BODY_CHECKS = [missing_and_non_object_bodies, each_required_field_missing, wrong_type_or_value_per_field]


def test_bad_bodies_are_4xx(fuzz_stack: HandlerStack, subtests: Any) -> None:
    for method, path in BODY_ROUTES:
        for check in [*BAD_BODY_CHECKS, invalid_utf8_and_bad_base64]:
            with subtests.test(route=f"{method} {path}", check=check.__name__):
                check(fuzz_stack, method, path)


def test_deep_nesting_is_never_a_5xx(fuzz_stack: HandlerStack, subtests: Any) -> None:
    url = fill("/sessions/{call_id}/metadata")
    for depth in [10, 100, 500, 900, 990, 1_000, 2_000, 10_000, 100_000]:
        with subtests.test(depth=depth):
            nested = "[" * depth + "]" * depth
            for body in (nested, '{"metadata": {"deep": ' + nested + "}}", '{"key": "deep", "value": ' + nested + "}"):
                reply = send(fuzz_stack, "PATCH", url, body=body)
                if depth >= 10_000:
                    assert is_4xx(reply), depth
            send(fuzz_stack, "POST", "/sessions", body='{"metadata": {"deep": ' + nested + "}}")


# Path segments as sent, and whether the call id API Gateway hands over (decoded once) is acceptable
# (None: the decoded segment holds a "/", so no route matches and no function runs). Only the
# call-id alphabet survives; whatever still holds '%' after the gateway's decoding is refused.
PATH_SEGMENTS: list[tuple[str, bool | None]] = [
    ("%", False),  # not an escape
    ("%2", False),
    ("%ZZ", False),
    ("%C3%28", False),  # invalid UTF-8
    ("%FF", False),
    ("%ED%A0%80", False),  # an encoded surrogate
    ("%00", False),
    ("%20", False),
    ("%0A", False),
    ("%7F", False),
    ("%E2%80%8B", False),  # zero-width space
    ("%2F", None),
    ("a%2Fb", None),
    ("%252F", False),  # decodes to %2F: never decoded a second time
    ("X%2541", False),  # decodes to X%41, which once named session XA
    ("%3A", False),
    (".", False),
    ("..", False),
    ("%2E%2E", False),
    ("%41" * 128, True),  # 128 A's once decoded
    ("%41" * 129, False),
    ("x" * 129, False),
    ("x" * 10_000, False),
    ("root.2", True),
    ("a%7Eb%2D1", True),  # a~b-1
    ("%E6%97%A5%E6%9C%AC", False),  # outside the alphabet
]


def test_percent_escapes_in_the_path(fuzz_stack: HandlerStack, subtests: Any) -> None:
    for method, path in PATH_ROUTES:
        good = ROUTES[(method, path)]
        body = None if good is None else json.dumps(good)
        for segment, acceptable in PATH_SEGMENTS:
            with subtests.test(route=f"{method} {path}", segment=segment[:40]):
                reply = send(fuzz_stack, method, fill(path, segment), body=body)
                if acceptable is None:
                    assert reply is None
                elif not acceptable:
                    assert is_4xx(reply)
                elif reply.status >= 400:  # a valid id may name no session; it is never a bad request
                    assert reply.body["error"] != "invalid_call_id"
                else:
                    assert reply.status < 300


# --- Hypothesis: arbitrary input, the answer is still a JSON object below 500 --------------------

FUZZ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
FIELDS = sorted({field for body in ROUTES.values() if body for field in body} | {"key", "value", "functions"})
# Any code point, lone surrogates included: json.dumps sends those as "\\udXXX" escapes.
any_text = st.text(st.characters(categories=["L", "M", "N", "P", "S", "Z", "C"]), max_size=200) | st.text(
    st.characters(categories=["Cs"]),
    min_size=1,
    max_size=3,  # else too rare to come up in a bounded run
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(any_text, inner, max_size=5),
    max_leaves=25,
)
bodies = st.dictionaries(st.sampled_from(FIELDS) | any_text, json_values, max_size=6)


@FUZZ
@given(route=st.sampled_from(BODY_ROUTES), body=bodies)
def test_any_json_object_body(fuzz_stack: HandlerStack, route: tuple[str, str], body: dict[str, Any]) -> None:
    send(fuzz_stack, route[0], fill(route[1]), body=json.dumps(body))


@FUZZ
@given(route=st.sampled_from(BODY_ROUTES), field=st.sampled_from(FIELDS), value=json_values)
def test_any_value_in_a_good_body(fuzz_stack: HandlerStack, route: tuple[str, str], field: str, value: Any) -> None:
    good = ROUTES[route]
    assert good is not None
    send(fuzz_stack, route[0], fill(route[1]), body=json.dumps({**good, field: value}))


@FUZZ
@given(route=st.sampled_from(BODY_ROUTES), raw=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_body(fuzz_stack: HandlerStack, route: tuple[str, str], raw: bytes) -> None:
    send(fuzz_stack, route[0], fill(route[1]), raw=raw)
    send(fuzz_stack, route[0], fill(route[1]), base64_body=base64.b64encode(raw).decode())


segments = st.text(min_size=1, max_size=150).map(lambda s: quote(s, safe="")) | st.text(
    alphabet="%0123456789abcdefABCDEFxz.-_~", min_size=1, max_size=60
)


@FUZZ
@given(route=st.sampled_from(PATH_ROUTES), segment=segments)
def test_any_path_segment(fuzz_stack: HandlerStack, route: tuple[str, str], segment: str) -> None:
    good = ROUTES[route]
    send(fuzz_stack, route[0], fill(route[1], segment), body=None if good is None else json.dumps(good))


@FUZZ
@given(metadata=st.dictionaries(any_text, json_values, max_size=5), key_value=st.booleans())
def test_any_metadata(fuzz_stack: HandlerStack, metadata: dict[str, Any], key_value: bool) -> None:
    url = fill("/sessions/{call_id}/metadata")
    if key_value and metadata:
        key, value = next(iter(metadata.items()))
        send(fuzz_stack, "PATCH", url, body=json.dumps({"key": key, "value": value}))
    else:
        send(fuzz_stack, "PATCH", url, body=json.dumps({"metadata": metadata}))
    send(fuzz_stack, "POST", "/sessions", body=json.dumps({"metadata": metadata}))
