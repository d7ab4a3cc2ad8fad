"""Plain HTTP calls to a local stack, as a client would make them (the contract's routes)."""

from __future__ import annotations

import uuid
from typing import Any

import requests

from harness.served import ServedStack

TIMEOUT = 10


def new_call_id(prefix: str = "hard") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def start(http: requests.Session, stack: ServedStack, call_id: str | None = None, **metadata: Any) -> str:
    body: dict[str, Any] = {"call_id": call_id or new_call_id(), "metadata": metadata}
    reply = http.post(f"{stack.base_url}/sessions", json=body, timeout=TIMEOUT)
    assert reply.status_code in (200, 201), reply.text
    return str(reply.json()["call_id"])


def mint(http: requests.Session, stack: ServedStack, call_id: str, *functions: str) -> dict[str, str]:
    """Tokens for `functions`: one request for a single name, a batch request for several."""
    url = f"{stack.base_url}/sessions/{call_id}/tokens"
    if len(functions) == 1:
        reply = http.post(url, json={"function": functions[0]}, timeout=TIMEOUT)
        assert reply.status_code == 201, reply.text
        return {functions[0]: reply.json()["token"]}
    reply = http.post(url, json={"functions": list(functions)}, timeout=TIMEOUT)
    assert reply.status_code == 201, reply.text
    return dict(reply.json()["tokens"])


def verdict(http: requests.Session, stack: ServedStack, call_id: str, function: str, token: str) -> dict[str, Any]:
    body = {"call_id": call_id, "function": function, "token": token}
    reply = http.post(f"{stack.base_url}/tokens/validate", json=body, timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


def end(http: requests.Session, stack: ServedStack, call_id: str) -> bool:
    reply = http.delete(f"{stack.base_url}/sessions/{call_id}", timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    return bool(reply.json()["ended"])
