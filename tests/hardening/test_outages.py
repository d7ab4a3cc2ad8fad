"""Outages of one dependency, through the local stack: 503 JSON, nothing half-written, recovery without restart.

Each stack's functions reach DynamoDB and Secrets Manager through their own fault proxy
(AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SECRETS_MANAGER), so one service can be
stopped ("down": connection refused) or stalled ("hang": accepted, never answered) while
the other keeps serving. The client configuration (session_core/config.py) must turn a dead
dependency into the function's own 503 JSON before the function's Timeout (the template's, which
the local stack enforces): past it the gateway would answer instead, with its own body, and
assert_unavailable fails. No elapsed time is asserted; durations are printed (pytest -s).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from signalwire.core.security.session_manager import SessionManager

from harness.fault_proxy import FaultProxy, fault_proxy
from harness.served import ServedStack, running_stack
from local.lambda_pool import SERVICE_ENDPOINTS
from tests.support.plain_http import TIMEOUT, mint, new_call_id, start, verdict

UNAVAILABLE = "service_unavailable"


@contextlib.contextmanager
def outage_stack(**env: str) -> Iterator[tuple[ServedStack, FaultProxy, FaultProxy]]:
    """A local stack whose functions reach each service through its own switchable proxy."""
    with fault_proxy() as dynamodb, fault_proxy() as secrets:
        # Any: running_stack takes keywords of other types beside the environment's
        settings: dict[str, Any] = {**dict(zip(SERVICE_ENDPOINTS, (dynamodb.url, secrets.url), strict=True)), **env}
        with running_stack(**settings) as stack:
            # Workers start on the first request, so no function has connected yet.
            dynamodb.target_port = secrets.target_port = int(stack.aws_endpoint.rsplit(":", 1)[1])
            yield stack, dynamodb, secrets


def call(stack: ServedStack, method: str, path: str, body: Any = None) -> tuple[requests.Response, float]:
    started = time.perf_counter()
    reply = requests.request(method, f"{stack.base_url}{path}", json=body, timeout=TIMEOUT)  # a hang guard
    return reply, time.perf_counter() - started


def one_by_one(stack: ServedStack, calls: list[tuple[str, str, Any]]) -> list[tuple[requests.Response, float]]:
    """In turn, so each lands on the warm worker and its time is the dependency's, not a cold start's."""
    return [call(stack, *c) for c in calls]


def assert_unavailable(replies: list[tuple[requests.Response, float]], label: str) -> None:
    for reply, _ in replies:
        assert reply.status_code == 503, (reply.request.method, reply.request.path_url, reply.text)
        assert reply.headers["content-type"].startswith("application/json")
        assert reply.json()["error"] == UNAVAILABLE and reply.json()["message"]
    print(f"\n{label}: {len(replies)} requests, all 503, slowest {max(s for _, s in replies):.2f}s")


# A refused connection with the revocation check on: every route that reads or writes, validate
# included, answers 503. A stall with it off: each function's first call is bounded, and validate,
# which then needs no DynamoDB, is not held up by it.
@pytest.mark.parametrize(("mode", "revocation"), [("down", "true"), ("hang", "false")])
def test_dynamodb_outage(mode: str, revocation: str) -> None:
    with outage_stack(REVOCATION_CHECK=revocation) as (stack, dynamodb, _):
        http = requests.Session()
        call_id = start(http, stack, customer="Ada")
        token = mint(http, stack, call_id, "lookup")["lookup"]
        assert verdict(http, stack, call_id, "lookup", token) == {"valid": True}  # every worker warm
        warm_end = http.delete(f"{stack.base_url}/sessions/{new_call_id()}", timeout=TIMEOUT)
        warm_get = http.get(f"{stack.base_url}/sessions/{call_id}/metadata", timeout=TIMEOUT)
        assert (warm_end.status_code, warm_get.status_code) == (200, 200)  # warm, so a 503 later is the outage

        dynamodb.set(mode)
        fresh = new_call_id("during")
        affected: list[tuple[str, str, Any]] = [
            ("POST", "/sessions", {"call_id": fresh, "metadata": {"a": 1}}),
            ("POST", f"/sessions/{call_id}/tokens", {"function": "lookup"}),
            ("GET", f"/sessions/{call_id}/metadata", None),
            ("PATCH", f"/sessions/{call_id}/metadata", {"key": "during", "value": 1}),
            ("DELETE", f"/sessions/{call_id}/metadata", None),
            ("DELETE", f"/sessions/{call_id}", None),
        ]
        validate = ("POST", "/tokens/validate", {"call_id": call_id, "function": "lookup", "token": token})
        if revocation == "true":
            affected.append(validate)  # the revocation check reads the session
        if mode == "hang":  # each costs the whole timeout budget: one request per function is enough
            affected = [c for c in affected if c[0] == "PATCH" or not c[1].endswith("/metadata")]
        assert_unavailable(one_by_one(stack, affected), f"DynamoDB {mode}, revocation {revocation}")
        if revocation == "false":  # stateless validate never needed DynamoDB
            reply, _ = call(stack, *validate)
            assert (reply.status_code, reply.json()) == (200, {"valid": True})

        dynamodb.set("pass")  # the same warm workers carry on
        table = stack.client("dynamodb")
        assert "Item" not in table.get_item(TableName=stack.table_name, Key={"call_id": {"S": fresh}})
        metadata = http.get(f"{stack.base_url}/sessions/{call_id}/metadata", timeout=TIMEOUT)
        assert metadata.json() == {"call_id": call_id, "metadata": {"customer": "Ada"}}  # no write got through
        assert verdict(http, stack, call_id, "lookup", mint(http, stack, call_id, "lookup")["lookup"]) == {
            "valid": True
        }  # still active: the DELETE during the outage did nothing
        reply, _ = call(stack, "POST", "/sessions", {"call_id": fresh})
        assert reply.status_code == 201


def test_secrets_manager_outage() -> None:
    """Refused connections. A stalled Secrets Manager fails the same way (the key read turns either
    into KeyUnavailable), within the client configuration's bound that the DynamoDB stall shows."""
    with outage_stack() as (stack, _, secrets):
        http = requests.Session()
        secrets.set("down")  # from the start: no worker has read the key yet
        call_id = start(http, stack)  # DynamoDB alone: unaffected
        token = SessionManager(secret_key=stack.signing_key).generate_token("lookup", call_id)
        cold = one_by_one(
            stack,
            [
                ("POST", f"/sessions/{call_id}/tokens", {"function": "lookup"}),
                ("POST", "/tokens/validate", {"call_id": call_id, "function": "lookup", "token": token}),
            ],
        )
        assert_unavailable(cold, "Secrets Manager down, cold workers")

        secrets.set("pass")  # back: the same workers read the key now
        minted = mint(http, stack, call_id, "lookup")["lookup"]
        assert verdict(http, stack, call_id, "lookup", token) == {"valid": True}
        forged = SessionManager(secret_key="not the key").generate_token("lookup", call_id)
        assert verdict(http, stack, call_id, "lookup", forged)["reason"] == "bad_signature"  # AWSPREVIOUS read too

        secrets.set("down")  # down again: the cached key keeps minting and validating
        assert verdict(http, stack, call_id, "lookup", minted) == {"valid": True}
        assert verdict(http, stack, call_id, "lookup", mint(http, stack, call_id, "other")["other"])["valid"] is False
        started = time.perf_counter()
        assert verdict(http, stack, call_id, "lookup", forged) == {"valid": False, "reason": "bad_signature"}
        print(f"Secrets Manager down, warm: bad signature answered in {time.perf_counter() - started:.2f}s")
        secrets.set("pass")
