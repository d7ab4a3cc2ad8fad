"""Case `cleanup`: DynamoDB items read per expired session deleted, against a full-table scan."""

from __future__ import annotations

import functools
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast

from .report import CaseResult, Row

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
from .stack import BenchStack

MAX_AGE_SECS = 48 * 3600  # expired sessions expired up to two days ago (inside the cleanup's lookback)


class _Capture:
    """Stands in for the DynamoDB client while the store's own create() builds an item: keeps the PutItem."""

    def __init__(self, client: Any) -> None:
        self.exceptions = client.exceptions
        self.items: list[dict[str, Any]] = []

    def put_item(self, *, Item: dict[str, Any], **_: Any) -> dict[str, Any]:  # boto3's argument name
        self.items.append(Item)
        return {}


def _seed(stack: BenchStack, table: str, ttl: int, *, sessions: int, expired: int, now: float) -> None:
    """Sessions exactly as DynamoSessionStore.create() writes them, the expired ones with its clock set back.

    create() over HTTP is one conditional PutItem per session (minutes for 10,000 against moto),
    so the items it builds are captured and written 25 to a BatchWriteItem instead. The table is
    new, so skipping create()'s condition (no active session with that id) changes nothing.
    """
    from session_core.store import DynamoSessionStore

    rng = random.Random(5)
    capture = _Capture(stack.client("dynamodb"))
    for i in range(sessions):
        created = now - ttl - rng.randint(1, MAX_AGE_SECS) if i < expired else now
        store = DynamoSessionStore(table, cast("DynamoDBClient", capture), clock=functools.partial(float, created))
        store.create(f"bench-session-{i:06d}", {"seq": i}, ttl)
    if len(capture.items) != sessions:
        raise RuntimeError("DynamoSessionStore.create() no longer writes one PutItem per new session")
    requests = [{"PutRequest": {"Item": item}} for item in capture.items]
    chunks = [requests[i : i + 25] for i in range(0, len(requests), 25)]
    client = stack.client("dynamodb")

    def write(chunk: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {table: chunk}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, chunks))


def _scan(stack: BenchStack, table: str, now: int) -> tuple[int, int]:
    """What finding the expired sessions by a full scan reads: (items read, expired found)."""
    from session_core.store import Attr

    before = stack.calls.snapshot()[1]
    found = 0
    pages = (
        stack.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=table,
            ProjectionExpression="#key",
            FilterExpression="#exp <= :now",
            ExpressionAttributeNames={"#key": Attr.KEY, "#exp": Attr.EXPIRES_AT},
            ExpressionAttributeValues={":now": {"N": str(now)}},
        )
    )
    for page in pages:
        found += int(page["Count"])
    return stack.calls.snapshot()[1] - before, found


def cleanup(stack: BenchStack, *, sessions: int, expired: int) -> CaseResult:
    from session_core.config import settings

    from local.lambda_runtime import LambdaContext, scheduled_event

    provisioned = stack.provision("bench-cleanup")
    stack.use("cleanup", provisioned)
    config = settings()
    started = time.perf_counter()
    _seed(stack, config.table_name, config.session_ttl_secs, sessions=sessions, expired=expired, now=time.time())
    seed_secs = time.perf_counter() - started

    scanned, found = _scan(stack, config.table_name, int(time.time()))
    if found != expired:
        raise RuntimeError(f"seeded {expired} expired sessions, a scan finds {found}")

    handler = stack.handler("cleanup")
    requests, read = stack.calls.snapshot()
    operations: dict[str, Any] = dict(stack.calls.operations)
    with stack.quiet():
        result = handler(scheduled_event(), LambdaContext(function_name="cleanup"))
    requests, read = stack.calls.snapshot()[0] - requests, stack.calls.snapshot()[1] - read
    operations = {
        op: n - operations.get(op, 0) for op, n in stack.calls.operations.items() if n > operations.get(op, 0)
    }
    if result.get("deleted") != expired:
        raise RuntimeError(f"cleanup deleted {result!r}, expected {expired}")

    per_deleted = read / result["deleted"]
    scan_per_expired = scanned / found
    return CaseResult(
        "cleanup",
        {
            "sessions": sessions,
            "expired": expired,
            "deleted": result["deleted"],
            "examined": result["examined"],
            "items_read": read,
            "items_read_per_deleted": round(per_deleted, 4),
            "scan_items_read": scanned,
            "scan_items_read_per_expired": round(scan_per_expired, 4),
            "aws_calls": requests,
            "operations": operations,
            "seed_secs": round(seed_secs, 1),
        },
        [Row("cleanup", round(per_deleted, 3), round(scan_per_expired, 3), "items/deleted", 1.2, "at_most")],
    )
