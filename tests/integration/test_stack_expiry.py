"""Template parameters overridden through the environment, on a second stack: short token and
session lifetimes, debug on, revocation on, cleanup every two seconds."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from signalwire.core.security.session_manager import SessionManager

from harness.served import ServedStack, running_stack

TIMEOUT = 10
SESSION_TTL_SECS = 3


@pytest.fixture(scope="module")
def short() -> Iterator[ServedStack]:
    env: dict[str, Any] = {  # Any: running_stack's keyword arguments are all settings here
        "TOKEN_EXPIRY_SECS": "1",
        "SESSION_TTL_SECS": str(SESSION_TTL_SECS),
        "DEBUG_MODE": "true",
        "REVOCATION_CHECK": "true",
        "CLEANUP_INTERVAL_SECS": "2",
    }
    with running_stack(**env) as stack:
        # Warm the workers (in parallel), so the steps below run well within a session's short life.
        warm = [("POST", p) for p in ("/sessions", "/sessions/w/tokens", "/tokens/validate", "/tokens/debug")]
        with ThreadPoolExecutor(len(warm) + 1) as pool:
            calls = [*warm, ("DELETE", "/sessions/w")]
            list(pool.map(lambda c: requests.request(c[0], stack.base_url + c[1], json={}, timeout=TIMEOUT), calls))
        yield stack


def eventually(check: Callable[[], Any], within: float = 15.0) -> Any:
    """Poll `check` until it returns something truthy (bounded, so a broken stack fails, not hangs)."""
    deadline = time.monotonic() + within
    while not (result := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {within}s")
        time.sleep(0.2)
    return result


def start(http: requests.Session, stack: ServedStack) -> str:
    call_id = f"short-{uuid.uuid4().hex[:10]}"
    assert http.post(f"{stack.base_url}/sessions", json={"call_id": call_id}, timeout=TIMEOUT).status_code == 201
    return call_id


def mint(http: requests.Session, stack: ServedStack, call_id: str, function: str) -> str:
    reply = http.post(f"{stack.base_url}/sessions/{call_id}/tokens", json={"function": function}, timeout=TIMEOUT)
    assert reply.status_code == 201, reply.text
    token: str = reply.json()["token"]
    return token


def sdk_token(stack: ServedStack, call_id: str, function: str) -> str:
    """A token with the SDK's default lifetime, signed with the stack's key."""
    return SessionManager(secret_key=stack.signing_key).generate_token(function, call_id)


def verdict(http: requests.Session, stack: ServedStack, call_id: str, function: str, token: str) -> dict[str, Any]:
    body = {"call_id": call_id, "function": function, "token": token}
    reply = http.post(f"{stack.base_url}/tokens/validate", json=body, timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text  # a verdict, not an error
    result: dict[str, Any] = reply.json()
    return result


def test_a_token_expires_after_token_expiry_secs(http: requests.Session, short: ServedStack) -> None:
    call_id = start(http, short)
    token = mint(http, short, call_id, "f")
    result = eventually(lambda: (v := verdict(http, short, call_id, "f", token)) != {"valid": True} and v)
    assert result == {"valid": False, "reason": "expired"}


def test_debug_mode_comes_from_the_environment(http: requests.Session, short: ServedStack) -> None:
    call_id = start(http, short)
    token = sdk_token(short, call_id, "lookup")
    reply = http.post(f"{short.base_url}/tokens/debug", json={"token": token}, timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    assert reply.json()["valid_format"] is True
    assert reply.json()["components"]["function"] == "lookup"


def test_revocation_check_refuses_tokens_minted_elsewhere_even_for_an_active_session(
    http: requests.Session, short: ServedStack
) -> None:
    """Under revocation a token must carry the session's incarnation, which only the service mints in."""
    call_id = start(http, short)
    token = sdk_token(short, call_id, "f")  # signed with the stack's key, by an SDK
    assert verdict(http, short, call_id, "f", token) == {"valid": False, "reason": "session_ended"}


def test_the_schedule_deletes_expired_sessions(http: requests.Session, short: ServedStack) -> None:
    call_id = start(http, short)
    table = short.client("dynamodb")
    key = {"call_id": {"S": call_id}}
    assert "Item" in table.get_item(TableName=short.table_name, Key=key)
    eventually(
        lambda: "Item" not in table.get_item(TableName=short.table_name, Key=key), within=SESSION_TTL_SECS + 45
    )  # a cold cleanup run can take ~10 s on a busy machine
    scanned = table.scan(TableName=short.table_name)["Items"]
    assert call_id not in {item["call_id"]["S"] for item in scanned}
    reply = http.get(f"{short.base_url}/sessions/{call_id}/metadata", timeout=TIMEOUT)
    assert reply.json() == {"call_id": call_id, "metadata": {}}
    assert "SCHEDULE cleanup " in short.log()
