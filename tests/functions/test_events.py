"""Every sample event in events/ answers its documented status on a freshly provisioned stack.

The events are what `sam local invoke <Function> -e events/<file>` sends. They carry
call id example-call-0001 and a well-formed token signed with a key no stack has.
rotate.json names the local stack's secret (swaig-sessions-local-signing-key); against
any other stack its SecretId is that stack's SigningSecretArn output, as here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from local import aws, template
from tests.support.events import EXPECTED
from tests.support.handler_stack import HandlerStack

EVENTS_DIR = template.ROOT / "events"
FUNCTIONS = template.functions({aws.TABLE_ID: "table", aws.SECRET_ID: "secret"})

# Events run in order on one stack: what each answers after the ones before it.
SEQUENCE: list[tuple[str, int, dict[str, Any]]] = [
    ("create.json", 201, {"call_id": "example-call-0001"}),
    ("create.json", 200, {"call_id": "example-call-0001"}),
    ("token.json", 201, {"call_id": "example-call-0001"}),
    ("metadata-patch.json", 200, {"metadata": {"customer": "Ada", "tier": 2, "language": "en-US"}}),
    ("metadata-delete.json", 200, {"deleted": True}),
    ("end.json", 200, {"ended": True}),
    ("token.json", 409, {"error": "session_ended"}),
    ("end.json", 200, {"ended": False}),
]


def load_event(name: str, stack: HandlerStack | None = None) -> dict[str, Any]:
    """The event file; a rotation event is pointed at `stack`'s secret."""
    event = json.loads((EVENTS_DIR / name).read_text())
    if stack is not None and "SecretId" in event:
        event["SecretId"] = stack.account.secret_id
    return event


def test_every_event_file_has_an_expectation() -> None:
    files = sorted(p.name for p in EVENTS_DIR.glob("*.json"))
    assert files, "events/ is empty"
    assert sorted(EXPECTED) == files


def test_every_function_has_an_event() -> None:
    assert {fn for fn, _, _ in EXPECTED.values()} == set(FUNCTIONS)


def test_every_route_has_an_event() -> None:
    """Each route of the template is exercised by one event whose routeKey names it."""
    route_keys = {load_event(name).get("routeKey") for name in EXPECTED}
    for fn in FUNCTIONS.values():
        for route in fn.routes:
            assert f"{route.method} {route.path}" in route_keys, (fn.name, route)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_event_answers_its_documented_status(stack: HandlerStack, name: str) -> None:
    function, status, fields = EXPECTED[name]
    if status is None:
        result = stack.invoke(function, load_event(name, stack))
        if not fields:
            assert result is None
            return
    else:
        reply = stack.http(function, load_event(name, stack))
        assert reply.status == status, reply
        result = reply.body
    assert {k: result.get(k) for k in fields} == fields, result


def test_rotate_event_stages_a_pending_key(stack: HandlerStack) -> None:
    event = load_event("rotate.json", stack)
    stack.invoke("rotate", event)
    stages = stack.account.secretsmanager.describe_secret(SecretId=event["SecretId"])["VersionIdsToStages"]
    assert stages[event["ClientRequestToken"]] == ["AWSPENDING"]


def test_debug_event_with_debug_mode_on(make_stack: Callable[..., HandlerStack]) -> None:
    stack = make_stack(DEBUG_MODE="true")
    reply = stack.http("debug", load_event("debug.json"))
    assert reply.status == 200, reply
    assert reply.body["valid_format"] is True
    assert reply.body["components"]["function"] == "get_weather"
    assert reply.body["components"]["call_id"] == "example-..."


def test_events_in_sequence(stack: HandlerStack) -> None:
    """create.json makes the session the other events talk about."""
    for name, status, fields in SEQUENCE:
        function = EXPECTED[name][0]
        reply = stack.http(function, load_event(name))
        assert reply.status == status, (name, reply)
        assert {k: reply.body.get(k) for k in fields} == fields, (name, reply.body)
