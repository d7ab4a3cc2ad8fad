"""A call id in the path is acted on only when the gateway's path parameter keeps the call-id rule,
whole, and the path names exactly that id: anything else is 400 invalid_call_id and changes nothing.

Requests go through the local router (as API Gateway routes and decodes them) to the handlers;
events a gateway could build otherwise (a path cut short, a parameter that disagrees with the
path) are given to the handlers directly.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from session_core.inputs import CALL_ID_MESSAGE

from local.lambda_runtime import http_event
from tests.support.handler_stack import HandlerStack

# Every control character (C0, DEL, C1), and the characters that end a path in a URL ('?', '#').
CONTROL = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))]
DELIMITERS = ["?", "#"]
CHARACTERS = CONTROL + DELIMITERS

# (method, path template, body): every route that takes a call id in its path.
PATH_ROUTES = [
    ("DELETE", "/sessions/{}", None),
    ("GET", "/sessions/{}/metadata", None),
    ("PATCH", "/sessions/{}/metadata", {"key": "k", "value": "changed"}),
    ("DELETE", "/sessions/{}/metadata", None),
    ("POST", "/sessions/{}/tokens", {"function": "f"}),
]


def encoded(call_id: str) -> str:
    """The id as a client puts it in a URL: every character outside the unreserved set escaped."""
    return quote(call_id, safe="")


def assert_refused(reply: Any, what: object) -> None:
    assert (reply.status, reply.body) == (400, {"error": "invalid_call_id", "message": CALL_ID_MESSAGE}), what


def assert_untouched(stack: HandlerStack, call_id: str) -> None:
    """The session the id would have been read as is still active, its metadata unchanged."""
    reply = stack.request("GET", f"/sessions/{call_id}/metadata")
    assert reply.body == {"call_id": call_id, "metadata": {"k": "kept"}}
    assert stack.request("POST", f"/sessions/{call_id}/tokens", {"function": "f"}).status == 201


@pytest.mark.parametrize(("method", "template", "body"), PATH_ROUTES)
def test_every_control_character_and_url_delimiter_is_refused_on_every_route(
    stack: HandlerStack, method: str, template: str, body: Any
) -> None:
    stack.create("abc", {"k": "kept"})
    for char in CHARACTERS:
        for call_id in (f"abc{char}", f"{char}abc", f"ab{char}c"):
            reply = stack.request(method, template.format(encoded(call_id)), body)
            assert_refused(reply, (method, call_id))
    assert_untouched(stack, "abc")


def test_a_final_newline_does_not_end_the_session_before_it(stack: HandlerStack) -> None:
    """Python's `$` matches before a final newline: `abc\\n` must not be read as `abc`."""
    stack.create("abc", {"k": "kept"})
    event = stack.event("DELETE", "/sessions/abc%0A")
    assert event["pathParameters"] == {"call_id": "abc\n"} and event["rawPath"] == "/sessions/abc\n"
    assert_refused(stack.http("end", event), "abc\\n")
    assert_untouched(stack, "abc")


def test_a_nul_is_refused_not_routed_nowhere(stack: HandlerStack) -> None:
    stack.create("abc", {"k": "kept"})
    assert_refused(stack.request("DELETE", "/sessions/abc%00"), "NUL")
    assert_refused(stack.request("DELETE", "/sessions/%00"), "NUL alone")
    assert_untouched(stack, "abc")


def gateway_event(method: str, route: str, raw_path: str, parameter: str, body: Any = None) -> dict[str, Any]:
    """An event whose path parameter and path are set independently, as a gateway could send them."""
    return http_event(method, raw_path, body, route_key=f"{method} {route}", path_parameters={"call_id": parameter})


@pytest.mark.parametrize(
    ("raw_path", "parameter"),
    [
        ("/sessions/qcut", "qcut?x"),  # a gateway that cut the path at a decoded '?'
        ("/sessions/qcut", "qcut#x"),
        ("/sessions/abc\n", "abc"),  # the parameter keeps the rule, the path holds more
        ("/sessions/abc", "abd"),  # two different ids
        ("/sessions/abc", ""),
        ("/sessions/abc/", "abc"),
        ("/sessions/abc", "abc\n"),
    ],
)
def test_a_parameter_that_is_not_the_paths_id_is_refused(stack: HandlerStack, raw_path: str, parameter: str) -> None:
    stack.create("abc", {"k": "kept"})
    stack.create("qcut", {"k": "kept"})
    assert_refused(stack.http("end", gateway_event("DELETE", "/sessions/{call_id}", raw_path, parameter)), parameter)
    assert_untouched(stack, "abc")
    assert_untouched(stack, "qcut")


def test_a_missing_parameter_is_refused(stack: HandlerStack) -> None:
    stack.create("abc", {"k": "kept"})
    event = http_event("DELETE", "/sessions/abc", route_key="DELETE /sessions/{call_id}")
    assert "pathParameters" not in event
    assert_refused(stack.http("end", event), "no pathParameters")
    assert_untouched(stack, "abc")


def test_the_paths_id_is_checked_on_every_route(stack: HandlerStack) -> None:
    stack.create("abc", {"k": "kept"})
    for method, template, body in PATH_ROUTES:
        route = template.format("{call_id}")
        name, _, _ = stack.route(method, template.format("abc"))
        reply = stack.http(name, gateway_event(method, route, template.format("abc") + "\n", "abc", body))
        assert_refused(reply, (method, template))
    assert_untouched(stack, "abc")


def test_a_named_stage_prefix_is_not_part_of_the_id(stack: HandlerStack) -> None:
    """A deployed stage ("dev") prefixes rawPath; the id is compared with the path after it."""
    stack.create("abc", {"k": "kept"})
    event = gateway_event("DELETE", "/sessions/{call_id}", "/dev/sessions/abc", "abc")
    event["requestContext"]["stage"] = "dev"
    reply = stack.http("end", event)
    assert (reply.status, reply.body) == (200, {"ended": True})


def test_a_valid_id_is_still_acted_on(stack: HandlerStack) -> None:
    stack.create("a.b_c~d-1", {"k": "kept"})
    assert_untouched(stack, "a.b_c~d-1")
    reply = stack.request("DELETE", "/sessions/a.b_c~d-1")
    assert (reply.status, reply.body) == (200, {"ended": True})


def test_an_unknown_route_without_a_call_id_is_still_404(stack: HandlerStack) -> None:
    reply = stack.http("end", http_event("DELETE", "/sessions", route_key="DELETE /sessions"))
    assert (reply.status, reply.body["error"]) == (404, "not_found")
