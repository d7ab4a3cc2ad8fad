"""What every API handler shares: JSON errors for bad input, routing, base64 bodies, 503s, logs."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from signalwire.core.security.session_manager import SessionManager

from local.lambda_runtime import http_event
from local.template import ROOT
from tests.support.handler_stack import HandlerStack
from tests.support.logs import LogCapture

# Each route that reads a body, with a body it accepts (call id c-1 exists when it runs).
BODY_ROUTES = [
    ("POST", "/sessions", {"call_id": "c-1"}),
    ("POST", "/sessions/c-1/tokens", {"function": "f"}),
    ("POST", "/tokens/validate", {"call_id": "c-1", "function": "f", "token": "dG9rZW4="}),
    ("PATCH", "/sessions/c-1/metadata", {"key": "k", "value": 1}),
]
BAD_BODIES = [
    ("{", "invalid_json"),
    ('{"call_id": NaN}', "invalid_json"),
    ('{"call_id": 1e400}', "invalid_json"),  # a number no float holds
    ('{"call_id": -1e-400}', "invalid_json"),  # would silently become -0.0
    ("[]", "invalid_body"),
    ('"text"', "invalid_body"),
    ("", "invalid_body"),
]


def with_body(event: dict[str, Any], text: str, *, base64_encoded: bool = False) -> dict[str, Any]:
    event = dict(event, body=text, isBase64Encoded=base64_encoded)
    event["headers"] = dict(event["headers"], **{"content-type": "application/json"})
    return event


def test_bad_body_is_a_400(stack: HandlerStack) -> None:
    stack.create("c-1")
    for method, path, good in BODY_ROUTES:
        name, _, _ = stack.route(method, path)
        for text, code in BAD_BODIES:
            reply = stack.http(name, with_body(stack.event(method, path, good), text))
            assert (reply.status, reply.body["error"]) == (400, code), (path, text)
            assert reply.body["message"]


def test_bad_body_to_debug_is_a_400(make_stack: Callable[..., HandlerStack]) -> None:
    stack = make_stack(DEBUG_MODE="true")
    for text, code in BAD_BODIES:
        reply = stack.http("debug", with_body(stack.event("POST", "/tokens/debug", {"token": "x"}), text))
        assert (reply.status, reply.body["error"]) == (400, code), text


def test_base64_body_is_decoded(stack: HandlerStack) -> None:
    stack.create("c-1")
    for method, path, good in BODY_ROUTES:
        name, _, _ = stack.route(method, path)
        encoded = base64.b64encode(json.dumps(good).encode()).decode()
        reply = stack.http(name, with_body(stack.event(method, path, good), encoded, base64_encoded=True))
        assert reply.status in (200, 201), (path, reply)


def test_base64_body_that_does_not_decode(stack: HandlerStack) -> None:
    reply = stack.http("create", with_body(stack.event("POST", "/sessions", {}), "%%%not base64", base64_encoded=True))
    assert (reply.status, reply.body["error"]) == (400, "invalid_body")


def test_body_that_is_not_utf8(stack: HandlerStack) -> None:
    event = stack.event("POST", "/sessions", raw_body=b'{"call_id": "\xff"}')
    assert event["isBase64Encoded"] is True  # as API Gateway sends a binary body
    reply = stack.http("create", event)
    assert (reply.status, reply.body["error"]) == (400, "invalid_json")


def test_the_event_carries_the_path_decoded_once(stack: HandlerStack) -> None:
    """As an HTTP API sends it: the handler must not decode again (X%41 is not XA)."""
    event = stack.event("DELETE", "/sessions/X%2541")
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == "/sessions/X%41"
    assert event["pathParameters"] == {"call_id": "X%41"}


def test_an_event_no_route_of_the_handler_matches_is_a_json_404(stack: HandlerStack) -> None:
    """The handler's own answer, under the gateway's (which never routes such a request to it)."""
    for name, fn in stack.functions.items():
        if fn.routes:
            reply = stack.http(name, http_event("GET", "/no/such/route"))
            assert (reply.status, reply.body["error"]) == (404, "not_found"), name


def test_named_stage_prefix_is_stripped(stack: HandlerStack) -> None:
    """A deployed stage ("dev") prefixes rawPath; the handlers route on the path without it."""
    event = stack.event("POST", "/sessions", {"call_id": "staged"})
    event["rawPath"] = "/dev/sessions"
    event["requestContext"]["stage"] = "dev"
    reply = stack.http("create", event)
    assert (reply.status, reply.body["call_id"]) == (201, "staged")


def _assert_unavailable(reply: Any) -> None:
    assert (reply.status, reply.body["error"]) == (503, "service_unavailable"), reply
    assert "Traceback" not in reply.raw["body"]
    assert set(reply.body) == {"error", "message"}


def _assert_misconfigured(reply: Any) -> None:
    assert (reply.status, reply.body["error"]) == (500, "misconfigured"), reply
    assert "Traceback" not in reply.raw["body"]
    assert set(reply.body) == {"error", "message"}


def test_missing_table_is_a_logged_500(stack: HandlerStack, monkeypatch: pytest.MonkeyPatch, logs: LogCapture) -> None:
    """ResourceNotFound is a misconfiguration: retrying cannot help, so no 503 invites it."""
    monkeypatch.setenv("TABLE_NAME", "no-such-table")
    stack.reset()
    for method, path, body in [
        ("POST", "/sessions", {"call_id": "c-1"}),
        ("POST", "/sessions/c-1/tokens", {"function": "f"}),
        ("GET", "/sessions/c-1/metadata", None),
        ("PATCH", "/sessions/c-1/metadata", {"key": "k", "value": 1}),
        ("DELETE", "/sessions/c-1/metadata", None),
        ("DELETE", "/sessions/c-1", None),
    ]:
        _assert_misconfigured(stack.request(method, path, body))
    errors = [r for r in logs.records() if r["level"] == "ERROR"]
    assert errors and {r.get("code") for r in errors} == {"ResourceNotFoundException"}


def test_missing_secret_is_a_logged_500(stack: HandlerStack, monkeypatch: pytest.MonkeyPatch, logs: LogCapture) -> None:
    stack.create("c-1")
    monkeypatch.setenv("SIGNING_SECRET_ID", "no-such-secret")
    stack.reset()
    _assert_misconfigured(stack.request("POST", "/sessions/c-1/tokens", {"function": "f"}))
    well_formed = SessionManager(secret_key="some key").generate_token("f", "c-1")
    _assert_misconfigured(stack.validate("c-1", "f", well_formed))  # only the key can judge its signature
    malformed = stack.validate("c-1", "f", "dG9rZW4=")  # "token": rejected without needing the key
    assert (malformed.status, malformed.body) == (200, {"valid": False, "reason": "malformed"})
    assert any(r["level"] == "ERROR" for r in logs.records())


@pytest.mark.parametrize("setting", ["TABLE_NAME", "SIGNING_SECRET_ID"])
def test_an_empty_setting_is_a_logged_500(
    stack: HandlerStack, monkeypatch: pytest.MonkeyPatch, logs: LogCapture, setting: str
) -> None:
    stack.create("c-1")
    monkeypatch.setenv(setting, "")
    stack.reset()
    _assert_misconfigured(stack.request("POST", "/sessions/c-1/tokens", {"function": "f"}))
    assert any(setting in r["detail"] for r in logs.records() if r["level"] == "ERROR")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ProvisionedThroughputExceededException", 400),
        ("ThrottlingException", 400),
        ("InternalServerError", 500),
        ("AccessDeniedException", 400),
        ("ValidationException", 400),
    ],
)
def test_throttling_and_outages_are_503_other_refusals_500(
    stack: HandlerStack, monkeypatch: pytest.MonkeyPatch, code: str, status: int
) -> None:
    from botocore.exceptions import ClientError
    from session_core import config

    def refuse(**_: Any) -> Any:
        response: Any = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
        raise ClientError(response, "op")  # the stubs' type wants metadata botocore does not need

    client = config.client("dynamodb")
    monkeypatch.setattr(client, "get_item", refuse)
    reply = stack.request("GET", "/sessions/c-1/metadata")
    if code in ("AccessDeniedException", "ValidationException"):
        _assert_misconfigured(reply)
    else:
        _assert_unavailable(reply)


def test_a_missing_setting_is_the_first_log_line_at_cold_start() -> None:
    """Each function names the settings it needs; a cold start without one says so before anything else."""
    for function, setting in [("create", "TABLE_NAME"), ("token", "SIGNING_SECRET_ID"), ("cleanup", "TABLE_NAME")]:
        env = {**os.environ, "TABLE_NAME": "t", "SIGNING_SECRET_ID": "s", setting: ""}
        code = (
            f"from local.lambda_runtime import handler_from_file; handler_from_file(ROOT / 'functions' / {function!r})"
        )
        run = subprocess.run(
            [sys.executable, "-c", "from local.template import ROOT; " + code],
            env={**env, "PYTHONPATH": os.pathsep.join([str(ROOT / "shared"), str(ROOT)])},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        first = json.loads(run.stdout.splitlines()[0])
        assert (first["level"], first["message"]) == ("ERROR", f"misconfigured: {setting} is not set"), function


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_endpoint_is_a_503(stack: HandlerStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS itself stopped answering: connection refused on every call."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    stack.reset()
    _assert_unavailable(stack.request("POST", "/sessions", {"call_id": "c-1"}))
    _assert_unavailable(stack.validate("c-1", "f", SessionManager(secret_key="k").generate_token("f", "c-1")))


def test_logs_carry_call_id_and_correlation_id(stack: HandlerStack, logs: LogCapture) -> None:
    requests = [
        stack.event("POST", "/sessions", {"call_id": "logged-1"}),
        stack.event("POST", "/tokens/validate", {"call_id": "logged-1", "function": "f", "token": "dG9rZW4="}),
        stack.event("DELETE", "/sessions/logged-1"),
    ]
    for event in requests:
        name, _, _ = stack.route(event["requestContext"]["http"]["method"], event["rawPath"])
        stack.http(name, event)
    records = logs.records()
    for event in requests:
        mine = [r for r in records if r.get("correlation_id") == event["requestContext"]["requestId"]]
        assert mine, event["routeKey"]
        assert all(r["call_id"] == "logged-1" for r in mine), mine


def test_every_body_is_compact_json_whoever_answers(stack: HandlerStack) -> None:
    """A refused path id, a route no handler has, a session error and a success: one serialization."""
    stack.create("compact", {"name": "Zoë"})
    replies = [
        stack.request("DELETE", "/sessions/compact%0A"),  # refused before routing to the service
        stack.http("create", http_event("GET", "/no/such/route")),  # the resolver's own 404
        stack.request("GET", "/sessions/compact/metadata"),
        stack.request("POST", "/sessions/absent/tokens", {"function": "f"}),  # the service's 404
    ]
    assert [reply.status for reply in replies] == [400, 404, 200, 404]
    for reply in replies:
        assert reply.raw["body"] == json.dumps(reply.body, separators=(",", ":"), ensure_ascii=False), reply.raw
