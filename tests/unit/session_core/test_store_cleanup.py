"""DynamoSessionStore.delete_expired on moto: deletes only expired items, skips refreshed ones, reads only those."""

from __future__ import annotations

from typing import Any

from session_core.service import SessionService
from session_core.store import BUCKET_SECS, EXPIRY_INDEX, Attr, DynamoSessionStore

from tests.support.accounts import AwsAccount
from tests.support.clock import Clock
from tests.support.sessions import existing

TTL = 3600


class QueryReads:
    """What cleanup reads: items returned by each Query (after-call event) and any Scan at all."""

    def __init__(self, client: Any) -> None:
        self.items_returned = 0
        self.indexes: set[str] = set()
        self.scans = 0
        client.meta.events.register("after-call.dynamodb.Query", self._query)
        client.meta.events.register("before-parameter-build.dynamodb.Query", self._query_params)
        client.meta.events.register("before-call.dynamodb.Scan", self._scan)

    def _query(self, parsed: dict[str, Any], **_: Any) -> None:
        self.items_returned += len(parsed.get("Items", []))

    def _query_params(self, params: dict[str, Any], **_: Any) -> None:
        self.indexes.add(params.get("IndexName", "<table>"))

    def _scan(self, **_: Any) -> None:
        self.scans += 1


def table_keys(aws: AwsAccount) -> set[str]:
    pages = aws.dynamodb.get_paginator("scan").paginate(TableName=aws.table_name, ConsistentRead=True)
    return {item[Attr.KEY]["S"] for page in pages for item in page.get("Items", [])}


def test_deletes_only_expired_items_reading_only_those(
    store: DynamoSessionStore, aws: AwsAccount, clock: Clock
) -> None:
    start = clock()
    expired = [f"old-{i}" for i in range(12)]
    live = [f"live-{i}" for i in range(20)]
    # Expiries spread over several hour buckets (and so over shards and index partitions).
    for i, call_id in enumerate(expired):
        clock.now = start + i * BUCKET_SECS / 3
        store.create(call_id, {"i": i}, 60)
    store.end(expired[0])  # ended sessions go too, once expired
    clock.now = start + 5 * BUCKET_SECS
    for call_id in live:
        store.create(call_id, {}, TTL)
    store.end(live[0])  # ended but not yet expired: kept (it answers {"ended": false} until then)

    reads = QueryReads(aws.dynamodb)
    result = store.delete_expired(int(clock()))
    assert (result.examined, result.deleted) == (len(expired), len(expired))
    assert reads.items_returned == len(expired)  # the live items were never read
    assert reads.scans == 0 and reads.indexes == {EXPIRY_INDEX}
    assert table_keys(aws) == set(live)
    assert existing(store, live[0]).ended
    again = store.delete_expired(int(clock()))  # a second run finds nothing left, and reads nothing
    assert (again.examined, again.deleted) == (0, 0)
    assert reads.items_returned == len(expired)


def test_a_refreshed_session_is_not_deleted(store: DynamoSessionStore, aws: AwsAccount, clock: Clock) -> None:
    store.create("refreshed", {"k": 1}, 60)
    store.create("stale", {"k": 1}, 60)
    clock.advance(30)
    store.merge_metadata("refreshed", {"k": 2}, TTL)  # a PATCH refreshes the expiry
    clock.advance(31)
    result = store.delete_expired(int(clock()))
    assert (result.examined, result.deleted) == (1, 1)
    assert table_keys(aws) == {"refreshed"}
    assert existing(store, "refreshed").metadata == {"k": 2}


def test_a_session_refreshed_after_the_index_read_is_skipped(
    store: DynamoSessionStore, aws: AwsAccount, clock: Clock
) -> None:
    """The index lags the table: between cleanup's Query and its DeleteItem a PATCH may land."""
    for call_id in ("raced", "stale"):
        store.create(call_id, {"k": 1}, 60)
    clock.advance(61)
    refreshed: list[str] = []

    def patch_first(params: dict[str, Any], **_: Any) -> None:
        if not refreshed and params["Key"][Attr.KEY]["S"] == "raced":
            refreshed.append("raced")
            store.merge_metadata("raced", {"k": 2}, TTL)

    aws.dynamodb.meta.events.register("before-parameter-build.dynamodb.DeleteItem", patch_first)
    result = store.delete_expired(int(clock()))
    assert refreshed == ["raced"]
    assert (result.examined, result.deleted) == (2, 1)
    assert table_keys(aws) == {"raced"}
    assert existing(store, "raced").metadata == {"k": 2}  # the refreshed session (re-created, as it had expired)


def test_cleanup_through_the_service(service: SessionService, clock: Clock) -> None:
    service.create_session("gone", {})
    clock.advance(service.config.session_ttl_secs + 1)
    service.create_session("here", {})
    result = service.cleanup()
    assert (result.examined, result.deleted) == (1, 1)
    assert service.get_metadata("gone") == {}
    assert service.store.get("here") is not None
