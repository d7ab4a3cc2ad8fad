"""Path call ids over real HTTP: the local front routes as API Gateway does, the functions refuse
every id that is not the call-id rule's, whole, and nothing is changed by a refused request."""

from __future__ import annotations

import http.client
import json
import uuid
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests

from harness.served import ServedStack

TIMEOUT = 10
# Every control character (C0, DEL, C1), NUL among them, and the characters that end a path in a
# URL ('?', '#'): each sent percent-encoded, as a client must.
CHARACTERS = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))] + ["?", "#"]


def send(stack: ServedStack, method: str, target: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    """`target` byte for byte (no client-side normalising of escapes); the status and JSON answer."""
    conn = http.client.HTTPConnection(urlsplit(stack.base_url).netloc, timeout=TIMEOUT)
    try:
        data = None if body is None else json.dumps(body)
        conn.request(method, target, body=data, headers={"Content-Type": "application/json"} if data else {})
        raw = conn.getresponse()
        return raw.status, json.loads(raw.read() or b"null")
    finally:
        conn.close()


@pytest.fixture
def session(http: requests.Session, stack: ServedStack) -> str:
    call_id = f"path-{uuid.uuid4().hex[:12]}"
    reply = http.post(f"{stack.base_url}/sessions", json={"call_id": call_id, "metadata": {"k": "kept"}}, timeout=10)
    assert reply.status_code == 201, reply.text
    return call_id


def assert_untouched(http: requests.Session, stack: ServedStack, call_id: str) -> None:
    reply = http.get(f"{stack.base_url}/sessions/{call_id}/metadata", timeout=TIMEOUT)
    assert reply.json() == {"call_id": call_id, "metadata": {"k": "kept"}}
    minted = http.post(f"{stack.base_url}/sessions/{call_id}/tokens", json={"function": "f"}, timeout=TIMEOUT)
    assert minted.status_code == 201, minted.text


@pytest.mark.parametrize(
    ("method", "template", "body"),
    [
        ("DELETE", "/sessions/{}", None),
        ("PATCH", "/sessions/{}/metadata", {"key": "k", "value": "changed"}),
        ("POST", "/sessions/{}/tokens", {"function": "f"}),
    ],
)
def test_each_control_character_and_delimiter_in_a_path_id_is_400(
    http: requests.Session, stack: ServedStack, session: str, method: str, template: str, body: Any
) -> None:
    for char in CHARACTERS:
        status, answer = send(stack, method, template.format(quote(session + char, safe="")), body)
        assert (status, answer.get("error")) == (400, "invalid_call_id"), (method, hex(ord(char)), answer)
    assert_untouched(http, stack, session)


def test_a_character_after_a_literal_segment_matches_no_route(
    http: requests.Session, stack: ServedStack, session: str
) -> None:
    """A route is a full match: `/tokens\\n` is not `/tokens`, so the gateway answers its own 404."""
    for char in ("\n", "\x00", "?", "#"):
        status, answer = send(stack, "POST", f"/sessions/{session}/tokens{quote(char, safe='')}", {"function": "f"})
        assert (status, answer) == (404, {"message": "Not Found"}), hex(ord(char))
    status, answer = send(stack, "DELETE", f"/sessions/{session}/metadata%0A")
    assert (status, answer) == (404, {"message": "Not Found"})
    assert_untouched(http, stack, session)
