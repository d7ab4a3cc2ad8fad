"""The scheduled cleanup: deletes sessions past their expiry, reports {"deleted", "examined"}, logs, metrics.

(events/cleanup.json on an empty table is in test_events.py.)
"""

from __future__ import annotations

import json
import time

import pytest
from session_core.store import Attr, DynamoSessionStore

from local.lambda_runtime import scheduled_event
from tests.support.handler_stack import HandlerStack
from tests.support.logs import LogCapture


def keys(stack: HandlerStack) -> set[str]:
    items = stack.account.dynamodb.scan(TableName=stack.account.table_name)["Items"]
    return {item[Attr.KEY]["S"] for item in items}


def expired_sessions(stack: HandlerStack, *call_ids: str) -> None:
    """Sessions written two hours ago with a one-hour lifetime: expired, not yet removed by TTL."""
    past = DynamoSessionStore(stack.account.table_name, stack.account.dynamodb, clock=lambda: time.time() - 7200)
    for call_id in call_ids:
        past.create(call_id, {"k": call_id}, 3600)


def test_deletes_only_expired_sessions(
    stack: HandlerStack, logs: LogCapture, capsys: pytest.CaptureFixture[str]
) -> None:
    expired_sessions(stack, "old-1", "old-2", "old.3")
    stack.create("active", {"keep": True})
    stack.create("ended")
    stack.request("DELETE", "/sessions/ended")

    assert stack.invoke("cleanup", scheduled_event()) == {"deleted": 3, "examined": 3}
    assert keys(stack) == {"active", "ended"}  # an ended session stays until it would have expired
    assert stack.invoke("cleanup", scheduled_event()) == {"deleted": 0, "examined": 0}

    done = [r for r in logs.records() if r["message"] == "cleanup done"]
    assert [(r["deleted"], r["examined"]) for r in done] == [(3, 3), (0, 0)]
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    deleted = [m["SessionsDeleted"] for m in emitted if "SessionsDeleted" in m]
    assert deleted == [[3.0], [0.0]]
