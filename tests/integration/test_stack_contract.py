"""The HTTP contract end to end over real HTTP: create, mint, validate, metadata, end."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import pytest
import requests
from signalwire.core.security.session_manager import SessionManager

from harness.served import ServedStack

TIMEOUT = 10


def new_call_id() -> str:
    return f"it-{uuid.uuid4().hex[:12]}.1"  # a dot, as SignalWire call ids may have


def post(http: requests.Session, url: str, body: Any) -> requests.Response:
    return http.post(url, json=body, timeout=TIMEOUT)


def validate(http: requests.Session, stack: ServedStack, call_id: str, function: str, token: str) -> dict[str, Any]:
    reply = post(http, f"{stack.base_url}/tokens/validate", {"call_id": call_id, "function": function, "token": token})
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


@pytest.fixture
def session(http: requests.Session, stack: ServedStack) -> str:
    call_id = new_call_id()
    reply = post(http, f"{stack.base_url}/sessions", {"call_id": call_id, "metadata": {"caller": "+15551230000"}})
    assert reply.status_code == 201, reply.text
    return call_id


def test_create_returns_the_id_and_repeating_it_is_200(http: requests.Session, stack: ServedStack) -> None:
    call_id = new_call_id()
    first = post(http, f"{stack.base_url}/sessions", {"call_id": call_id})
    assert first.status_code == 201
    assert first.headers["Content-Type"] == "application/json"
    assert first.json()["call_id"] == call_id
    assert isinstance(first.json()["expires_at"], int)
    again = post(http, f"{stack.base_url}/sessions", {"call_id": call_id, "metadata": {"a": 1}})
    assert (again.status_code, again.json()["call_id"]) == (200, call_id)


def test_create_without_an_id_generates_one_like_the_sdk(http: requests.Session, stack: ServedStack) -> None:
    reply = post(http, f"{stack.base_url}/sessions", {})
    assert reply.status_code == 201
    assert len(reply.json()["call_id"]) == 22


def test_mint_single_and_batch_then_validate(http: requests.Session, stack: ServedStack, session: str) -> None:
    single = post(http, f"{stack.base_url}/sessions/{session}/tokens", {"function": "get_weather"})
    assert single.status_code == 201, single.text
    assert single.json()["call_id"] == session
    assert validate(http, stack, session, "get_weather", single.json()["token"]) == {"valid": True}

    batch = post(http, f"{stack.base_url}/sessions/{session}/tokens", {"functions": ["a", "b", "a"]})
    assert batch.status_code == 201, batch.text
    tokens = batch.json()["tokens"]
    assert sorted(tokens) == ["a", "b"]
    for name, token in tokens.items():
        assert validate(http, stack, session, name, token) == {"valid": True}


def test_validate_rejects_with_a_reason(http: requests.Session, stack: ServedStack, session: str) -> None:
    token = post(http, f"{stack.base_url}/sessions/{session}/tokens", {"function": "transfer"}).json()["token"]
    # The SDK's order: function first, then the signature, the call id last.
    assert validate(http, stack, session, "other", token) == {"valid": False, "reason": "function_mismatch"}
    assert validate(http, stack, new_call_id(), "transfer", token) == {"valid": False, "reason": "call_id_mismatch"}
    decoded = base64.urlsafe_b64decode(token).decode()
    flipped = decoded[:-1] + ("0" if decoded[-1] != "0" else "1")  # one hex digit of the signature
    tampered = base64.urlsafe_b64encode(flipped.encode()).decode()
    assert validate(http, stack, session, "transfer", tampered) == {"valid": False, "reason": "bad_signature"}
    assert validate(http, stack, session, "transfer", "not-a-token") == {"valid": False, "reason": "malformed"}


def test_an_expired_token_is_rejected(http: requests.Session, stack: ServedStack, session: str) -> None:
    # Minted by the SDK itself with the stack's key, already past its expiry.
    token = SessionManager(token_expiry_secs=-60, secret_key=stack.signing_key).generate_token("late", session)
    assert validate(http, stack, session, "late", token) == {"valid": False, "reason": "expired"}


def test_tokens_interoperate_with_the_sdk(http: requests.Session, stack: ServedStack, session: str) -> None:
    sdk = SessionManager(secret_key=stack.signing_key)
    minted = post(http, f"{stack.base_url}/sessions/{session}/tokens", {"function": "lookup"}).json()["token"]
    assert sdk.validate_token(session, "lookup", minted) is True  # an agent validating locally
    assert sdk.validate_tool_token("lookup", minted, session) is True
    assert sdk.validate_token(session, "other", minted) is False
    assert validate(http, stack, session, "lookup", sdk.generate_token("lookup", session)) == {"valid": True}


def test_metadata_merge_get_delete(http: requests.Session, stack: ServedStack, session: str) -> None:
    url = f"{stack.base_url}/sessions/{session}/metadata"
    values: dict[str, Any] = {"n": 1, "f": 1.0, "s": "ünï", "nested": {"l": [1, None, True]}}
    merged = http.patch(url, json={"metadata": values}, timeout=TIMEOUT)
    assert merged.status_code == 200, merged.text
    assert merged.json() == {"call_id": session, "metadata": {"caller": "+15551230000", **values}}
    one = http.patch(url, json={"key": "step", "value": 2}, timeout=TIMEOUT)
    assert one.json()["metadata"]["step"] == 2
    got = http.get(url, timeout=TIMEOUT)
    assert got.status_code == 200
    assert got.json()["metadata"] == {"caller": "+15551230000", **values, "step": 2}
    assert isinstance(got.json()["metadata"]["f"], float)  # 1.0 stays a float
    assert http.delete(url, timeout=TIMEOUT).json() == {"deleted": True}
    assert http.get(url, timeout=TIMEOUT).json() == {"call_id": session, "metadata": {}}
    assert http.delete(url, timeout=TIMEOUT).json() == {"deleted": False}


def test_get_metadata_of_an_unknown_session_is_empty(http: requests.Session, stack: ServedStack) -> None:
    call_id = new_call_id()
    reply = http.get(f"{stack.base_url}/sessions/{call_id}/metadata", timeout=TIMEOUT)
    assert (reply.status_code, reply.json()) == (200, {"call_id": call_id, "metadata": {}})


def test_end_then_mint_is_refused(http: requests.Session, stack: ServedStack, session: str) -> None:
    token = post(http, f"{stack.base_url}/sessions/{session}/tokens", {"function": "f"}).json()["token"]
    ended = http.delete(f"{stack.base_url}/sessions/{session}", timeout=TIMEOUT)
    assert (ended.status_code, ended.json()) == (200, {"ended": True})
    assert http.delete(f"{stack.base_url}/sessions/{session}", timeout=TIMEOUT).json() == {"ended": False}
    refused = post(http, f"{stack.base_url}/sessions/{session}/tokens", {"function": "f"})
    assert refused.status_code == 409
    assert refused.json()["error"] == "session_ended"
    # RevocationCheck is off by default: validate stays stateless, so the token still checks out.
    assert validate(http, stack, session, "f", token) == {"valid": True}
    assert http.get(f"{stack.base_url}/sessions/{session}/metadata", timeout=TIMEOUT).json()["metadata"] == {}


def test_debug_is_off_by_default(http: requests.Session, stack: ServedStack) -> None:
    reply = post(http, f"{stack.base_url}/tokens/debug", {"token": "x"})
    assert reply.status_code == 403
    assert reply.json() == {"error": "debug_disabled", "message": "debug mode not enabled"}


def test_bad_input_is_a_400_json_error(http: requests.Session, stack: ServedStack) -> None:
    reply = http.post(f"{stack.base_url}/sessions", data=b"{not json", timeout=TIMEOUT)
    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_json"
    reply = post(http, f"{stack.base_url}/tokens/validate", {"call_id": "x", "function": "a.b", "token": "t"})
    assert (reply.status_code, reply.json()["error"]) == (400, "invalid_function")


def test_the_table_holds_what_the_api_wrote(http: requests.Session, stack: ServedStack, session: str) -> None:
    item = stack.client("dynamodb").get_item(TableName=stack.table_name, Key={"call_id": {"S": session}})["Item"]
    assert item["call_id"] == {"S": session}
    secret = stack.client("secretsmanager").get_secret_value(SecretId=stack.secret_arn)["SecretString"]
    assert secret == stack.signing_key


def test_one_log_line_per_request(http: requests.Session, stack: ServedStack) -> None:
    call_id = new_call_id()
    http.get(f"{stack.base_url}/sessions/{call_id}/metadata", timeout=TIMEOUT)
    expected = f"GET /sessions/{call_id}/metadata 200 "

    def logged() -> list[str]:
        return [line for line in stack.log().splitlines() if line.startswith(expected)]

    deadline = time.monotonic() + 5  # the front logs a request once its reply is written
    while not logged() and time.monotonic() < deadline:
        time.sleep(0.05)
    [line] = logged()
    assert line.endswith("ms metadata"), line
