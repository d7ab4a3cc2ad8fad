"""Concurrent writers through the local stack (real HTTP, real worker processes, moto's DynamoDB).

- 16 threads x 10 merges of distinct keys into one session: no key is lost. SOAK=full makes it
  16 x 100, where moto's UpdateItem slows down as the item grows, so that run takes minutes.
- 16 threads creating the same session at once: exactly one 201, the rest 200, one item.
- 8 PATCHes of 20 KB values at once: the 64 KiB limit holds, every answer is true, the session stays usable.
- creates racing ends on one id: every request resolves (a 503 session_busy, retried, does).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import requests
from session_core.store import metadata_size
from session_rules.limits import MAX_METADATA_BYTES, MAX_RETIRED_INCARNATIONS

from harness.served import ServedStack
from tests.support.plain_http import TIMEOUT, new_call_id, start
from tests.support.threads import run_together

THREADS = 16
FULL = os.environ.get("SOAK") == "full"
MERGES_PER_THREAD = 100 if FULL else 10
MERGE_TIMEOUT = 120 if FULL else TIMEOUT  # a queue of 16 writers on a slow emulator, not a hang
RETRIES = 3  # a 503 means "retry shortly" (the contract); moto slows down as the item grows


@pytest.mark.slow
@pytest.mark.timeout(1800 if FULL else 300)
def test_concurrent_merges_of_distinct_keys_lose_nothing(default_stack: ServedStack) -> None:
    call_id = start(requests.Session(), default_stack)
    url = f"{default_stack.base_url}/sessions/{call_id}/metadata"

    def merge_many(thread: int) -> list[tuple[int, list[str]]]:
        """Each merge's final status and the 503 answers retried before it, as a client retries them."""
        outcomes = []
        with requests.Session() as http:  # one keep-alive connection per thread, as a client pool has
            for i in range(MERGES_PER_THREAD):
                body: dict[str, Any] = {"key": f"t{thread:02d}-k{i:03d}", "value": {"thread": thread, "i": i}}
                retried: list[str] = []
                reply = http.patch(url, json=body, timeout=MERGE_TIMEOUT)
                while reply.status_code == 503 and len(retried) < RETRIES:
                    retried.append(reply.json()["message"])
                    reply = http.patch(url, json=body, timeout=MERGE_TIMEOUT)
                outcomes.append((reply.status_code, retried))
        return outcomes

    outcomes = [o for per_thread in run_together(THREADS, merge_many) for o in per_thread]
    retried = [message for _, messages in outcomes for message in messages]
    print(f"\n{len(outcomes)} merges from {THREADS} threads; {len(retried)} answered 503 first: {set(retried)}")
    assert [status for status, _ in outcomes] == [200] * THREADS * MERGES_PER_THREAD

    metadata = requests.get(url, timeout=TIMEOUT).json()["metadata"]
    expected = {f"t{t:02d}-k{i:03d}": {"thread": t, "i": i} for t in range(THREADS) for i in range(MERGES_PER_THREAD)}
    assert len(metadata) == THREADS * MERGES_PER_THREAD
    assert metadata == expected


def test_concurrent_creates_of_one_session_start_it_once(default_stack: ServedStack) -> None:
    call_id = new_call_id("race")
    url = f"{default_stack.base_url}/sessions"

    def create(thread: int) -> tuple[int, Any]:
        reply = requests.post(url, json={"call_id": call_id, "metadata": {f"t{thread}": thread}}, timeout=TIMEOUT)
        return reply.status_code, reply.json()

    replies = run_together(THREADS, create)
    statuses = sorted(status for status, _ in replies)
    assert statuses == [200] * (THREADS - 1) + [201]
    assert {body["call_id"] for _, body in replies} == {call_id}

    table = default_stack.client("dynamodb")
    items = table.query(
        TableName=default_stack.table_name,
        KeyConditionExpression="call_id = :id",
        ExpressionAttributeValues={":id": {"S": call_id}},
        ConsistentRead=True,
    )["Items"]
    assert len(items) == 1
    # every creator's metadata was merged into that one session
    metadata = requests.get(f"{url}/{call_id}/metadata", timeout=TIMEOUT).json()["metadata"]
    assert metadata == {f"t{t}": t for t in range(THREADS)}


def test_concurrent_near_limit_patches_keep_the_limit(default_stack: ServedStack) -> None:
    """8 PATCHes of a distinct 20 KB value at once: at most 64 KiB stored, every 200 present, every 413 absent."""
    call_id = start(requests.Session(), default_stack)
    url = f"{default_stack.base_url}/sessions/{call_id}/metadata"

    def patch(thread: int) -> tuple[str, int]:
        key = f"big-{thread}"
        reply = requests.patch(url, json={"key": key, "value": "x" * 20_000}, timeout=MERGE_TIMEOUT)
        return key, reply.status_code

    replies = run_together(8, patch)
    assert {status for _, status in replies} <= {200, 413}
    metadata = requests.get(url, timeout=TIMEOUT).json()["metadata"]
    assert metadata_size(metadata) <= MAX_METADATA_BYTES
    assert set(metadata) == {key for key, status in replies if status == 200}
    assert requests.patch(url, json={"key": "small", "value": 1}, timeout=TIMEOUT).status_code == 200  # still usable
    again = requests.post(f"{default_stack.base_url}/sessions", json={"call_id": call_id}, timeout=TIMEOUT)
    assert again.status_code == 200


def test_create_racing_end_never_fails(default_stack: ServedStack) -> None:
    """POST /sessions and DELETE /sessions/{id} on one id from 8 threads: 200/201 and 200, or a 503 a retry resolves.

    At most MAX_RETIRED_INCARNATIONS creates in all: each create over an ended session retires that
    session's incarnation, and past the limit a restart is 409 restart_limit by design.
    """
    call_id = new_call_id("create-end")
    base = default_stack.base_url
    threads = 8
    rounds = MAX_RETIRED_INCARNATIONS // threads

    def work(thread: int) -> list[int]:
        statuses = []
        with requests.Session() as http:
            for i in range(rounds):
                body: dict[str, Any] = {"call_id": call_id, "metadata": {f"t{thread}": i}}
                reply = http.post(f"{base}/sessions", json=body, timeout=MERGE_TIMEOUT)
                for _ in range(RETRIES):
                    if reply.status_code != 503:
                        break
                    assert reply.json()["error"] == "session_busy", reply.text
                    statuses.append(503)
                    reply = http.post(f"{base}/sessions", json=body, timeout=MERGE_TIMEOUT)
                statuses.append(reply.status_code)
                statuses.append(http.delete(f"{base}/sessions/{call_id}", timeout=MERGE_TIMEOUT).status_code)
        return statuses

    statuses = [s for per_thread in run_together(threads, work) for s in per_thread]
    print(f"\ncreate racing end: {statuses.count(503)} answered 503 first, all resolved by a retry")
    assert set(statuses) <= {200, 201, 503}
    assert statuses.count(200) + statuses.count(201) == threads * rounds * 2
