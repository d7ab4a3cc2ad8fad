"""DynamoSessionStore on moto, the table created from template.yaml: TTL, expiry, create/merge/end semantics, size."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from session_core.errors import MetadataTooLarge, SessionEnded
from session_core.store import Attr, DynamoSessionStore, Session, expiry_bucket, metadata_size
from session_rules.limits import INCARNATION_LENGTH, MAX_METADATA_BYTES

from local import template
from tests.support.accounts import AwsAccount
from tests.support.clock import Clock
from tests.support.races import other_writer
from tests.support.sessions import existing

TTL = 3600


def items(aws: AwsAccount) -> list[dict[str, Any]]:
    """Every item in the table, read around the store."""
    pages = aws.dynamodb.get_paginator("scan").paginate(TableName=aws.table_name, ConsistentRead=True)
    return [item for page in pages for item in page.get("Items", [])]


def raw(aws: AwsAccount, call_id: str) -> dict[str, Any] | None:
    return aws.dynamodb.get_item(TableName=aws.table_name, Key={Attr.KEY: {"S": call_id}}, ConsistentRead=True).get(
        "Item"
    )


class Requests:
    """The parameters of every DynamoDB request the client sends (botocore's before-parameter-build event)."""

    def __init__(self, client: Any) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("before-parameter-build.dynamodb", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.sent.append((model.name, dict(params)))

    def writes(self) -> list[tuple[str, dict[str, Any]]]:
        return [(name, params) for name, params in self.sent if name in {"PutItem", "UpdateItem", "DeleteItem"}]


# -- the TTL attribute ---------------------------------------------------------------------------


def test_the_template_ttl_attribute_is_the_stores_expiry() -> None:
    assert template.ttl_attribute() == Attr.EXPIRES_AT


def test_every_write_path_leaves_the_ttl_attribute_on_every_item(
    store: DynamoSessionStore, aws: AwsAccount, clock: Clock
) -> None:
    ttl_name = template.ttl_attribute()

    def expire_then_merge() -> object:
        clock.advance(TTL + 1)
        return store.merge_metadata("c", {"x": 1}, TTL)

    steps = [
        ("create new", lambda: store.create("a", {"k": 1}, TTL)),
        ("create again (merge)", lambda: store.create("a", {"k2": 2}, TTL)),
        ("merge into active", lambda: store.merge_metadata("a", {"k3": 3}, TTL)),
        ("merge creates absent", lambda: store.merge_metadata("b", {"k": 1}, TTL)),
        ("create with no metadata", lambda: store.create("c", {}, TTL)),
        ("create again with no metadata", lambda: store.create("c", {}, TTL)),
        ("delete metadata", lambda: store.delete_metadata("a")),
        ("end", lambda: store.end("b")),
        ("create over ended", lambda: store.create("b", {"fresh": True}, TTL)),
        ("merge before an over-limit one", lambda: store.merge_metadata("a", {"pad": 1}, TTL)),
        ("over-limit merge, refused", lambda: over_limit(store, "a")),
        ("expire, then merge creates", expire_then_merge),
        ("create over expired", lambda: store.create("a", {}, TTL)),
    ]
    for name, step in steps:
        step()
        for item in items(aws):
            assert ttl_name in item and "N" in item[ttl_name], (name, item)
            expires_at = int(item[ttl_name]["N"])
            # The expiry index must file the item under the bucket of its current expiry.
            assert item[Attr.BUCKET]["S"] == expiry_bucket(item[Attr.KEY]["S"], expires_at), (name, item)


def over_limit(store: DynamoSessionStore, call_id: str) -> None:
    with pytest.raises(MetadataTooLarge):
        store.merge_metadata(call_id, big(), TTL)


def big(size: int = MAX_METADATA_BYTES) -> dict[str, str]:
    """Metadata of exactly `size` bytes serialized."""
    overhead = metadata_size({"big": ""})
    return {"big": "x" * (size - overhead)}


def test_expiry_is_set_and_refreshed(store: DynamoSessionStore, aws: AwsAccount, clock: Clock) -> None:
    session, _ = store.create("a", {}, TTL)
    assert session.expires_at == int(clock()) + TTL == int(raw(aws, "a")[Attr.EXPIRES_AT]["N"])  # type: ignore[index]
    clock.advance(100)
    refreshed = store.merge_metadata("a", {"k": 1}, TTL)
    assert refreshed.expires_at == int(clock()) + TTL == existing(store, "a").expires_at
    clock.advance(100)
    assert store.create("a", {}, TTL)[0].expires_at == int(clock()) + TTL


# -- expired items are invisible -----------------------------------------------------------------


def test_an_item_past_its_expiry_is_absent_to_every_read(
    store: DynamoSessionStore, aws: AwsAccount, clock: Clock
) -> None:
    session, _ = store.create("a", {"old": 1}, 60)
    clock.advance(59)
    assert store.get("a") == Session(
        "a", session.expires_at, False, {"old": 1}, session.incarnation, (session.incarnation,)
    )
    clock.advance(1)  # now == expires_at: past it
    assert store.get("a") is None
    assert raw(aws, "a") is not None  # still in the table (TTL deletion lags), yet treated as absent
    assert store.delete_metadata("a") is False
    assert store.end("a") is False


def test_an_expired_session_is_replaced_not_merged(store: DynamoSessionStore, clock: Clock) -> None:
    store.create("a", {"old": 1}, 60)
    clock.advance(61)
    session, created = store.create("a", {"new": 2}, TTL)
    assert created and session.metadata == {"new": 2} == existing(store, "a").metadata

    store.create("b", {"old": 1}, 60)
    clock.advance(61)
    assert store.merge_metadata("b", {"new": 2}, TTL).metadata == {"new": 2}
    assert existing(store, "b").metadata == {"new": 2}


def test_an_ended_session_expires_like_any_other(store: DynamoSessionStore, clock: Clock) -> None:
    store.create("a", {}, 60)
    store.end("a")
    clock.advance(61)
    assert store.get("a") is None
    assert store.merge_metadata("a", {"k": 1}, TTL).metadata == {"k": 1}  # not SessionEnded: it has expired


# -- create, merge, delete, end ------------------------------------------------------------------


def test_create_new_then_repeat_merges(store: DynamoSessionStore) -> None:
    first, created = store.create("a", {"x": 1, "y": 2}, TTL)
    assert created and first.metadata == {"x": 1, "y": 2} and not first.ended
    again, created = store.create("a", {"y": 3, "z": 4}, TTL)
    assert not created
    assert again.metadata == {"x": 1, "y": 3, "z": 4} == existing(store, "a").metadata


def test_create_over_an_ended_session_starts_fresh(store: DynamoSessionStore, clock: Clock) -> None:
    store.create("a", {"x": 1}, TTL)
    assert store.end("a") is True
    session, created = store.create("a", {"y": 2}, TTL)
    assert created and session.metadata == {"y": 2}
    assert store.get("a") == Session(
        "a", session.expires_at, False, {"y": 2}, session.incarnation, (session.incarnation,)
    )


def test_merge_on_an_absent_session_creates_it(store: DynamoSessionStore) -> None:
    assert store.get("a") is None
    session = store.merge_metadata("a", {"k": "v"}, TTL)
    assert session.metadata == {"k": "v"} and not session.ended
    assert existing(store, "a").metadata == {"k": "v"}


def test_merge_on_an_ended_session_is_refused(store: DynamoSessionStore) -> None:
    store.create("a", {"x": 1}, TTL)
    store.end("a")
    with pytest.raises(SessionEnded) as caught:
        store.merge_metadata("a", {"k": "v"}, TTL)
    assert caught.value.status == 409
    assert existing(store, "a").metadata == {} and existing(store, "a").ended


def test_merge_replaces_whole_values_key_by_key(store: DynamoSessionStore) -> None:
    store.create("a", {"nested": {"x": 1, "y": 2}, "keep": True}, TTL)
    merged = store.merge_metadata("a", {"nested": {"z": 3}}, TTL)
    assert merged.metadata == {"nested": {"z": 3}, "keep": True}


def test_delete_metadata_return_values(store: DynamoSessionStore) -> None:
    assert store.delete_metadata("absent") is False
    store.create("a", {"x": 1}, TTL)
    assert store.delete_metadata("a") is True
    assert existing(store, "a").metadata == {} and not existing(store, "a").ended
    assert store.delete_metadata("a") is False  # had none
    store.create("b", {}, TTL)
    assert store.delete_metadata("b") is False
    store.merge_metadata("b", {"k": 1}, TTL)
    store.end("b")
    assert store.delete_metadata("b") is False  # ended


def test_end_return_values_and_state(store: DynamoSessionStore, clock: Clock) -> None:
    assert store.end("absent") is False
    session, _ = store.create("a", {"x": 1}, TTL)
    clock.advance(10)
    assert store.end("a") is True
    ended = store.get("a")
    assert ended == Session(
        "a", session.expires_at, True, {}, session.incarnation, (session.incarnation,)
    )  # visible as ended until expiry
    assert store.end("a") is False


# -- the 64 KiB limit ----------------------------------------------------------------------------


def test_size_is_compact_utf8_json() -> None:
    assert metadata_size({"k": "é"}) == len('{"k":"é"}'.encode())
    assert metadata_size({"a": [1, {"b": None}]}) == len('{"a":[1,{"b":null}]}')


def test_exactly_64_kib_is_accepted_one_byte_more_is_413(store: DynamoSessionStore) -> None:
    assert metadata_size(big()) == MAX_METADATA_BYTES
    assert store.create("a", big(), TTL)[0].metadata == big()
    assert store.merge_metadata("b", big(), TTL).metadata == big()
    with pytest.raises(MetadataTooLarge) as caught:
        store.create("c", big(MAX_METADATA_BYTES + 1), TTL)
    assert caught.value.status == 413
    assert store.get("c") is None
    with pytest.raises(MetadataTooLarge):
        store.merge_metadata("c", big(MAX_METADATA_BYTES + 1), TTL)
    assert store.get("c") is None


def test_multibyte_characters_count_as_their_utf8_bytes(store: DynamoSessionStore) -> None:
    overhead = metadata_size({"k": ""})
    fits = {"k": "é" * ((MAX_METADATA_BYTES - overhead) // 2)}
    assert store.create("a", fits, TTL)[0].metadata == fits
    with pytest.raises(MetadataTooLarge):
        store.create("b", {"k": "é" * ((MAX_METADATA_BYTES - overhead) // 2 + 1)}, TTL)


def test_accumulated_merges_past_the_limit_are_413_and_change_nothing(store: DynamoSessionStore) -> None:
    first = {"a": "x" * 40_000}
    store.create("s", first, TTL)
    with pytest.raises(MetadataTooLarge):
        store.merge_metadata("s", {"b": "y" * 30_000}, TTL)
    assert existing(store, "s").metadata == first
    with pytest.raises(MetadataTooLarge):
        store.create("s", {"b": "y" * 30_000}, TTL)  # create on an active session merges: same limit
    assert existing(store, "s").metadata == first
    # Growing an existing key past the limit restores its earlier value.
    store.merge_metadata("s", {"b": "small"}, TTL)
    with pytest.raises(MetadataTooLarge):
        store.merge_metadata("s", {"b": "z" * 30_000, "c": 1}, TTL)
    assert existing(store, "s").metadata == {**first, "b": "small"}
    # Replacing a big value with a smaller one is fine even when the sum of both would not be.
    assert store.merge_metadata("s", {"a": "tiny", "b": "w" * 60_000}, TTL).metadata == {"a": "tiny", "b": "w" * 60_000}


def test_many_small_merges_reach_the_limit(store: DynamoSessionStore) -> None:
    chunk = "x" * 1000
    accepted = 0
    with pytest.raises(MetadataTooLarge):
        for i in range(100):
            store.merge_metadata("s", {f"k{i:03}": chunk}, TTL)
            accepted += 1
    metadata = existing(store, "s").metadata
    assert len(metadata) == accepted and metadata_size(metadata) <= MAX_METADATA_BYTES
    assert metadata_size({**metadata, f"k{accepted:03}": chunk}) > MAX_METADATA_BYTES


# -- what is sent to DynamoDB --------------------------------------------------------------------

# DynamoDB's documented limits that moto does not enforce: any expression string at most 4 KB.
MAX_EXPRESSION_BYTES = 4096


@pytest.mark.parametrize("keys", [1, 50, 60, 250, 3000])  # 50: the longest per-key expressions
def test_a_merge_is_one_write_whatever_its_size(store: DynamoSessionStore, aws: AwsAccount, keys: int) -> None:
    """One write per create or merge: all of it is stored or none of it, however many keys."""
    requests = Requests(aws.dynamodb)
    metadata = {f"key-{i}": i for i in range(keys)}
    store.create("a", {"base": "b" * 10_000}, TTL)
    assert store.merge_metadata("a", metadata, TTL).metadata == {"base": "b" * 10_000, **metadata}
    expected = {"base": "b" * 10_000, **metadata, "one": 1}
    assert store.create("a", {"one": 1}, TTL)[0].metadata == expected
    assert existing(store, "a").metadata == expected
    # The repeated create tries the insert first; the refused insert returns the item to merge into.
    assert [name for name, _ in requests.writes()] == ["PutItem", "UpdateItem", "PutItem", "UpdateItem"]
    # An over-limit merge of as many keys (under the limit alone, over it with "base") writes nothing.
    changed: dict[str, Any] = {f"key-{i}": "v" for i in range(keys)}
    changed["pad"] = "p" * (MAX_METADATA_BYTES - metadata_size(changed) - 100)
    sent = len(requests.writes())
    with pytest.raises(MetadataTooLarge):
        store.merge_metadata("a", changed, TTL)
    assert existing(store, "a").metadata == expected
    assert len(requests.writes()) == sent
    for name, params in requests.writes():
        for field in ("UpdateExpression", "ConditionExpression"):
            assert len(params.get(field, "").encode()) <= MAX_EXPRESSION_BYTES, (name, field, len(params[field]))


def test_values_are_stored_as_json_text(store: DynamoSessionStore, aws: AwsAccount) -> None:
    """Why values survive exactly: DynamoDB numbers would turn 1.0 into 1."""
    store.create("a", {"f": 1.0, "i": 1}, TTL)
    stored = raw(aws, "a")[Attr.METADATA]["M"]  # type: ignore[index]
    assert {k: json.loads(v["S"]) for k, v in stored.items()} == {"f": 1.0, "i": 1}
    assert stored["f"] == {"S": "1.0"}


# -- a refused or failed write changes nothing ---------------------------------------------------


def test_a_refused_or_failed_write_leaves_the_item_byte_identical(
    store: DynamoSessionStore, aws: AwsAccount, clock: Clock
) -> None:
    store.create("a", {"base": "b" * 10_000, "x": 1}, TTL)
    before = raw(aws, "a")
    requests = Requests(aws.dynamodb)
    clock.advance(600)  # a write that went through would move expires_at

    # 65 keys, the last of which JSON cannot carry: refused before anything is sent.
    bad: dict[str, Any] = {f"k{i}": i for i in range(64)} | {"k64": float("nan")}
    with pytest.raises(ValueError):
        store.merge_metadata("a", bad, TTL)
    # Over the limit only together with what is stored: 413, nothing sent.
    with pytest.raises(MetadataTooLarge):
        store.merge_metadata("a", {"x": 2, "more": "m" * 60_000}, TTL)
    with pytest.raises(MetadataTooLarge):
        store.create("a", {f"k{i}": "v" * 600 for i in range(100)}, TTL)  # create on an active session merges
    assert [name for name, _ in requests.writes()] == ["PutItem"]  # the create's insert attempt, refused
    assert raw(aws, "a") == before


def test_a_merge_into_an_ended_session_changes_nothing(
    store: DynamoSessionStore, aws: AwsAccount, clock: Clock
) -> None:
    store.create("a", {"x": 1}, TTL)
    store.end("a")
    before = raw(aws, "a")
    clock.advance(60)
    with pytest.raises(SessionEnded):
        store.merge_metadata("a", {"k": 1}, TTL)
    assert raw(aws, "a") == before


# -- racing writers, one at a time ---------------------------------------------------------------


def set_key(aws: AwsAccount, key: str, value: Any) -> Any:
    """Another store's merge of one key into session "a"."""
    return lambda client: DynamoSessionStore(aws.table_name, client).merge_metadata("a", {key: value}, TTL)


def test_a_key_changed_between_read_and_write_is_read_again(store: DynamoSessionStore, aws: AwsAccount) -> None:
    store.create("a", {"x": "old"}, TTL)
    raced = other_writer(aws, lambda name, _: name == "UpdateItem", set_key(aws, "x", "theirs"))
    merged = store.merge_metadata("a", {"x": "mine", "y": 1}, TTL)
    assert raced
    assert merged.metadata == {"x": "mine", "y": 1} == existing(store, "a").metadata


def test_another_writers_key_is_kept_and_returned(store: DynamoSessionStore, aws: AwsAccount) -> None:
    store.create("a", {"x": 1}, TTL)
    raced = other_writer(aws, lambda name, _: name == "UpdateItem", set_key(aws, "theirs", 2))
    merged = store.merge_metadata("a", {"mine": 3}, TTL)
    assert raced
    assert merged.metadata == {"x": 1, "theirs": 2, "mine": 3} == existing(store, "a").metadata


@pytest.mark.parametrize("keys", [1, 80])  # a merge naming its keys, and one writing the whole map
def test_a_merge_that_would_pass_the_limit_after_another_write_is_413(
    store: DynamoSessionStore, aws: AwsAccount, keys: int
) -> None:
    store.create("a", {"base": "b" * 30_000}, TTL)
    raced = other_writer(aws, lambda name, _: name == "UpdateItem", set_key(aws, "theirs", "t" * 30_000))
    mine = {f"m{i}": "v" * (6_000 // keys) for i in range(keys)}
    with pytest.raises(MetadataTooLarge):
        store.merge_metadata("a", mine, TTL)
    assert raced
    assert existing(store, "a").metadata == {"base": "b" * 30_000, "theirs": "t" * 30_000}


def test_an_end_between_read_and_write_makes_a_merge_409_and_a_create_start_afresh(
    store: DynamoSessionStore, aws: AwsAccount
) -> None:
    def end(client: Any) -> None:
        DynamoSessionStore(aws.table_name, client).end("a")

    store.create("a", {"x": 1}, TTL)
    raced = other_writer(aws, lambda name, _: name == "UpdateItem", end)
    with pytest.raises(SessionEnded):
        store.merge_metadata("a", {"y": 2}, TTL)
    assert raced and existing(store, "a").ended
    store.create("a", {"x": 1}, TTL)
    raced = other_writer(aws, lambda name, _: name == "UpdateItem", end)
    session, created = store.create("a", {"z": 3}, TTL)
    assert raced and created
    assert store.get("a") == session and session.metadata == {"z": 3}


def test_a_start_over_an_item_changed_since_it_was_read_is_retried(
    store: DynamoSessionStore, aws: AwsAccount, clock: Clock
) -> None:
    store.create("a", {"x": 1}, 60)
    clock.advance(61)  # expired: a create replaces it

    def restart(client: Any) -> None:
        DynamoSessionStore(aws.table_name, client, clock=clock).create("a", {"theirs": 1}, TTL)

    raced = other_writer(aws, lambda name, params: name == "PutItem" and "mine" in str(params["Item"]), restart)
    session, created = store.create("a", {"mine": 2}, TTL)
    assert raced and not created  # the other create started it; this one merged into it
    assert session.metadata == {"theirs": 1, "mine": 2} == existing(store, "a").metadata


def test_a_start_over_an_item_ended_and_started_again_since_it_was_read_retires_both(
    store: DynamoSessionStore, aws: AwsAccount
) -> None:
    """The session started and ended in between had incarnations of its own: the start over the
    item as read would not retire them, so it fails its condition and starts over the item as it is."""
    first = store.create("a", {"x": 1}, TTL)[0].incarnation
    store.end("a")
    between: list[str] = []

    def churn(client: Any) -> None:
        other = DynamoSessionStore(aws.table_name, client)
        between.append(other.create("a", {}, TTL)[0].incarnation)
        other.end("a")

    # Just before the start over the ended item (the one that retires incarnations), once it was read.
    raced = other_writer(aws, lambda name, params: name == "PutItem" and Attr.RETIRED in params["Item"], churn)
    requests = Requests(aws.dynamodb)
    session, created = store.create("a", {"mine": 1}, TTL)
    assert [name for name, _ in requests.sent].count("PutItem") == 3  # absent assumed, the item read, the churned one
    assert raced and created and session.metadata == {"mine": 1} == existing(store, "a").metadata
    assert set(raw(aws, "a")[Attr.RETIRED]["M"]) == {first, *between}  # type: ignore[index]


def test_a_stored_size_that_disagrees_with_the_map_is_repaired_not_a_dead_end(
    store: DynamoSessionStore, aws: AwsAccount
) -> None:
    """A writer that did not keep md_bytes must not leave every later per-key merge failing its condition."""
    store.create("a", {"big": "x" * 60_000}, TTL)
    aws.dynamodb.update_item(
        TableName=aws.table_name,
        Key={Attr.KEY: {"S": "a"}},
        UpdateExpression="SET md.big = :small",  # the map shrinks, the stored size does not
        ExpressionAttributeValues={":small": {"S": '"small"'}},
    )
    session = store.merge_metadata("a", {"k": "y" * 20_000}, TTL)
    assert session.metadata == {"big": "small", "k": "y" * 20_000}
    assert int(raw(aws, "a")[Attr.SIZE]["N"]) + 1 == metadata_size(session.metadata)  # type: ignore[index]
    assert store.merge_metadata("a", {"j": 1}, TTL).metadata["j"] == 1  # and the per-key path works again


# -- size bookkeeping and incarnations ----------------------------------------------------------


def test_the_stored_size_follows_the_metadata(store: DynamoSessionStore, aws: AwsAccount) -> None:
    def check() -> None:
        stored = int(raw(aws, "a")[Attr.SIZE]["N"])  # type: ignore[index]
        metadata = existing(store, "a").metadata
        assert stored + 1 == metadata_size(metadata) if metadata else stored == 0

    store.create("a", {"k": "é✓", "n": [1, 2.5, None]}, TTL)
    check()
    store.merge_metadata("a", {"k": "longer value", "ключ": {"x": True}}, TTL)
    check()
    store.merge_metadata("a", {f"many-{i}": i for i in range(80)}, TTL)
    check()
    store.delete_metadata("a")
    check()
    store.merge_metadata("a", {"again": 1}, TTL)
    check()


def test_incarnation_is_new_at_each_start_and_kept_by_merges(store: DynamoSessionStore, clock: Clock) -> None:
    first, _ = store.create("a", {"x": 1}, TTL)
    assert re.fullmatch(r"[0-9a-f]{8}", first.incarnation) and INCARNATION_LENGTH == 8
    assert store.merge_metadata("a", {"y": 2}, TTL).incarnation == first.incarnation
    assert store.merge_metadata("a", {f"k{i}": i for i in range(80)}, TTL).incarnation == first.incarnation
    assert store.create("a", {"z": 3}, TTL)[0].incarnation == first.incarnation  # merged, not started
    assert existing(store, "a").incarnation == first.incarnation
    store.delete_metadata("a")
    assert existing(store, "a").incarnation == first.incarnation
    store.end("a")
    assert existing(store, "a").incarnation == first.incarnation
    seen = {first.incarnation}
    second, created = store.create("a", {}, TTL)  # after end
    assert created and second.incarnation not in seen and existing(store, "a").incarnation == second.incarnation
    seen.add(second.incarnation)
    clock.advance(TTL + 1)
    third = store.merge_metadata("a", {"k": 1}, TTL)  # after expiry, a PATCH starts it
    assert third.incarnation not in seen and existing(store, "a").incarnation == third.incarnation
    seen.add(third.incarnation)
    clock.advance(TTL + 1)
    fourth, created = store.create("a", {}, TTL)  # after expiry
    assert created and fourth.incarnation not in seen
    assert store.merge_metadata("b", {"k": 1}, TTL).incarnation not in seen | {fourth.incarnation}
