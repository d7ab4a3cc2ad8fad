"""Session persistence: the SessionStore interface and its DynamoDB implementation.

One item per call id. Metadata values are stored as JSON text inside a map, one map
entry per key, so `SET md.#k = :v` merges keys atomically and any JSON value
(floats, big ints, nesting, null) comes back exactly as sent: DynamoDB numbers would
turn 1.0 into 1 and reject NaN-free but out-of-range floats.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import MetadataTooLarge, SessionEnded

MAX_METADATA_BYTES = 64 * 1024
INCARNATION_LENGTH = 8  # hex characters: half of the 16-character nonce the service mints with


class Attr:
    """Item attribute names, in one place. `template.yaml` declares KEY, BUCKET and EXPIRES_AT."""

    KEY = "call_id"
    EXPIRES_AT = "expires_at"  # epoch seconds; the table's TTL attribute
    BUCKET = "expiry_bucket"  # partition key of the expiry index
    ENDED = "ended"
    METADATA = "md"
    CREATED_AT = "created_at"
    INCARNATION = "incarnation"  # random per start of a call id: tokens minted for it carry it in their nonce


EXPIRY_INDEX = "by-expiry"
BUCKET_SECS = 3600  # an expiry bucket spans one hour of expiry times
BUCKET_SHARDS = 8  # spreads one hour's writes over 8 index partitions
LOOKBACK_BUCKETS = 72  # cleanup looks back three days, past DynamoDB's own TTL lag
MERGE_BATCH = 50  # metadata keys per UpdateItem (each expression stays far below 4 KB)


def bucket_name(period: int, shard: int) -> str:
    """Partition key of the expiry index: which hour of expiry times, which shard."""
    return f"{period}#{shard}"


def expiry_bucket(call_id: str, expires_at: int) -> str:
    return bucket_name(expires_at // BUCKET_SECS, zlib.crc32(call_id.encode()) % BUCKET_SHARDS)


def metadata_size(metadata: Mapping[str, Any]) -> int:
    """Bytes of the metadata serialized as compact UTF-8 JSON (the 64 KiB limit's measure)."""
    return len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())


@dataclass(frozen=True, slots=True)
class Session:
    call_id: str
    expires_at: int
    ended: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: int = 0  # when this incarnation of the call id started (epoch seconds)
    incarnation: str = ""  # INCARNATION_LENGTH lowercase hex, new each time the call id starts a session


@dataclass(frozen=True, slots=True)
class CleanupResult:
    examined: int
    deleted: int


class SessionStore(Protocol):
    def get(self, call_id: str) -> Session | None:
        """The session, or None when absent or past its expiry (ended sessions are returned)."""

    def create(self, call_id: str, metadata: Mapping[str, Any], ttl: int) -> tuple[Session, bool]:
        """Start a session, or merge into the active one; True when it was started."""

    def merge_metadata(self, call_id: str, metadata: Mapping[str, Any], ttl: int) -> Session:
        """Merge keys into the session's metadata (starting it if absent) and refresh its expiry."""

    def delete_metadata(self, call_id: str) -> bool:
        """Empty an active session's metadata; True if it had any."""

    def end(self, call_id: str) -> bool:
        """Mark an active session ended and drop its metadata; True if it was active."""

    def delete_expired(self, now: int) -> CleanupResult:
        """Delete items past their expiry, reading only those."""


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _dump(value: Any) -> dict[str, str]:
    return {"S": json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)}


class DynamoSessionStore:
    """SessionStore on one DynamoDB table (low-level client: no type-serializer round trip)."""

    def __init__(self, table_name: str, client: Any, clock: Any = time.time) -> None:
        self.table = table_name
        self.client = client
        self.clock = clock
        self._conditional_failure = client.exceptions.ConditionalCheckFailedException

    def _now(self) -> int:
        return int(self.clock())

    def _key(self, call_id: str) -> dict[str, Any]:
        return {Attr.KEY: _s(call_id)}

    def _session(self, item: Mapping[str, Any]) -> Session:
        return Session(
            call_id=item[Attr.KEY]["S"],
            expires_at=int(item[Attr.EXPIRES_AT]["N"]),
            ended=item.get(Attr.ENDED, {}).get("BOOL", False),
            metadata={k: json.loads(v["S"]) for k, v in item.get(Attr.METADATA, {}).get("M", {}).items()},
            created_at=int(item.get(Attr.CREATED_AT, {}).get("N", 0)),
        )

    def _live(self, item: Mapping[str, Any] | None, now: int) -> bool:
        """An item counts only until its expiry: TTL deletion can lag by days."""
        return item is not None and int(item[Attr.EXPIRES_AT]["N"]) > now

    def get(self, call_id: str) -> Session | None:
        item = self.client.get_item(TableName=self.table, Key=self._key(call_id), ConsistentRead=True).get("Item")
        return self._session(item) if self._live(item, self._now()) else None

    def create(self, call_id: str, metadata: Mapping[str, Any], ttl: int) -> tuple[Session, bool]:
        return self._upsert(call_id, metadata, ttl, creating=True)

    def merge_metadata(self, call_id: str, metadata: Mapping[str, Any], ttl: int) -> Session:
        return self._upsert(call_id, metadata, ttl, creating=False)[0]

    def _upsert(self, call_id: str, metadata: Mapping[str, Any], ttl: int, *, creating: bool) -> tuple[Session, bool]:
        """Start or merge, whichever the item's state allows; each step is one conditional write.

        Creating tries the insert first; merging tries the merge first. A race between two
        writers resolves in the next step, so concurrent calls never lose a key.
        """
        if metadata_size(metadata) > MAX_METADATA_BYTES:
            raise MetadataTooLarge()
        insert_first = creating
        for _ in range(4):
            if insert_first:
                session = self._insert(call_id, metadata, ttl, replace_ended=creating)
                if session is not None:
                    return session, True
            else:
                merged = self._merge(call_id, metadata, ttl, creating=creating)
                if merged is not None:
                    return merged, False
            insert_first = not insert_first
        raise RuntimeError(f"session {call_id!r} kept changing under concurrent writes")

    def _insert(self, call_id: str, metadata: Mapping[str, Any], ttl: int, *, replace_ended: bool) -> Session | None:
        """Write a fresh session unless an active one exists; None when one does."""
        now = self._now()
        expires_at = now + ttl
        condition = "attribute_not_exists(#key) OR #exp <= :now"
        if replace_ended:
            condition += " OR #ended = :true"
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    **self._key(call_id),
                    Attr.EXPIRES_AT: _n(expires_at),
                    Attr.BUCKET: _s(expiry_bucket(call_id, expires_at)),
                    Attr.CREATED_AT: _n(now),
                    Attr.ENDED: {"BOOL": False},
                    Attr.METADATA: {"M": {k: _dump(v) for k, v in metadata.items()}},
                },
                ConditionExpression=condition,
                ExpressionAttributeNames={
                    "#key": Attr.KEY,
                    "#exp": Attr.EXPIRES_AT,
                    **({"#ended": Attr.ENDED} if replace_ended else {}),
                },
                ExpressionAttributeValues={":now": _n(now), **({":true": {"BOOL": True}} if replace_ended else {})},
            )
        except self._conditional_failure:
            return None
        return Session(call_id, expires_at, False, dict(metadata), created_at=now)

    def _merge(self, call_id: str, metadata: Mapping[str, Any], ttl: int, *, creating: bool) -> Session | None:
        """Merge into an active session; None when there is none to merge into.

        Keys go MERGE_BATCH to a conditional UpdateItem (the first also refreshes the expiry),
        so no expression nears DynamoDB's 4 KB limit however many keys one request has.
        """
        now = self._now()
        expires_at = now + ttl
        pairs = list(metadata.items())
        old: dict[str, Any] = {}
        for start in range(0, max(len(pairs), 1), MERGE_BATCH):
            batch = pairs[start : start + MERGE_BATCH]
            names = {"#exp": Attr.EXPIRES_AT, "#ended": Attr.ENDED}
            values: dict[str, Any] = {":now": _n(now), ":false": {"BOOL": False}}
            sets = []
            if start == 0:
                names["#bucket"] = Attr.BUCKET
                values[":exp"] = _n(expires_at)
                values[":bucket"] = _s(expiry_bucket(call_id, expires_at))
                sets += ["#exp = :exp", "#bucket = :bucket"]
            if batch:  # DynamoDB rejects an expression attribute name the expressions do not use
                names["#md"] = Attr.METADATA
            for i, (k, v) in enumerate(batch):
                names[f"#k{i}"] = k
                values[f":v{i}"] = _dump(v)
                sets.append(f"#md.#k{i} = :v{i}")
            try:
                written = self.client.update_item(
                    TableName=self.table,
                    Key=self._key(call_id),
                    UpdateExpression="SET " + ", ".join(sets),
                    ConditionExpression="#exp > :now AND #ended = :false",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_OLD" if start == 0 else "NONE",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except self._conditional_failure as exc:
                item = exc.response.get("Item")
                if not creating and self._live(item, now):
                    raise SessionEnded() from exc  # only an ended session fails the condition while live
                return None
            old = written.get("Attributes", old)
        before = self._session(old)
        merged = {**before.metadata, **metadata}
        if metadata_size(merged) > MAX_METADATA_BYTES:
            self._undo_merge(call_id, before.metadata, metadata)
            raise MetadataTooLarge()
        return Session(call_id, expires_at, False, merged, created_at=before.created_at)

    def _undo_merge(self, call_id: str, before: Mapping[str, Any], written: Mapping[str, Any]) -> None:
        """Put back what an over-limit merge replaced, unless another writer changed it since.

        A batch per write while none of its keys changed (so a merge of many keys is undone
        within the function's timeout), key by key in a batch where one did.
        """
        pairs = list(written.items())
        for start in range(0, len(pairs), MERGE_BATCH):
            batch = pairs[start : start + MERGE_BATCH]
            if not self._undo_keys(call_id, before, batch):
                for pair in batch:
                    self._undo_keys(call_id, before, [pair])  # False: a later writer owns this key now

    def _undo_keys(self, call_id: str, before: Mapping[str, Any], pairs: list[tuple[str, Any]]) -> bool:
        """Restore these keys to `before` in one write if each still holds what was written."""
        names = {"#md": Attr.METADATA}
        values: dict[str, Any] = {}
        sets, removes, unchanged = [], [], []
        for i, (k, v) in enumerate(pairs):
            names[f"#k{i}"] = k
            values[f":mine{i}"] = _dump(v)
            unchanged.append(f"#md.#k{i} = :mine{i}")
            if k in before:
                values[f":old{i}"] = _dump(before[k])
                sets.append(f"#md.#k{i} = :old{i}")
            else:
                removes.append(f"#md.#k{i}")
        update = " ".join(f"{verb} {', '.join(paths)}" for verb, paths in (("SET", sets), ("REMOVE", removes)) if paths)
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(call_id),
                UpdateExpression=update,
                ConditionExpression=" AND ".join(unchanged),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except self._conditional_failure:
            return False
        return True

    def _update_active(self, call_id: str, update: str, condition: str, values: dict[str, Any]) -> bool:
        """Apply an update to an active session; False when there is none or `condition` fails."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(call_id),
                UpdateExpression=update,
                ConditionExpression="#exp > :now AND #ended = :false" + condition,
                ExpressionAttributeNames={"#exp": Attr.EXPIRES_AT, "#ended": Attr.ENDED, "#md": Attr.METADATA},
                ExpressionAttributeValues={":now": _n(self._now()), ":false": {"BOOL": False}, **values},
            )
        except self._conditional_failure:
            return False
        return True

    def delete_metadata(self, call_id: str) -> bool:
        return self._update_active(
            call_id, "SET #md = :empty", " AND size(#md) > :zero", {":empty": {"M": {}}, ":zero": _n(0)}
        )

    def end(self, call_id: str) -> bool:
        return self._update_active(
            call_id, "SET #ended = :true, #md = :empty", "", {":true": {"BOOL": True}, ":empty": {"M": {}}}
        )

    def _expired_in(self, bucket: str, now: int) -> list[str]:
        """Call ids in one expiry bucket whose expiry has passed (only those are read)."""
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table,
            IndexName=EXPIRY_INDEX,
            KeyConditionExpression="#bucket = :bucket AND #exp <= :now",
            ExpressionAttributeNames={"#bucket": Attr.BUCKET, "#exp": Attr.EXPIRES_AT},
            ExpressionAttributeValues={":bucket": _s(bucket), ":now": _n(now)},
        )
        return [item[Attr.KEY]["S"] for page in pages for item in page.get("Items", [])]

    def _delete_if_expired(self, call_id: str, now: int) -> bool:
        # Conditional, because the index lags the table: the session may have been refreshed.
        try:
            self.client.delete_item(
                TableName=self.table,
                Key=self._key(call_id),
                ConditionExpression="#exp <= :now",
                ExpressionAttributeNames={"#exp": Attr.EXPIRES_AT},
                ExpressionAttributeValues={":now": _n(now)},
            )
        except self._conditional_failure:
            return False
        return True

    def delete_expired(self, now: int) -> CleanupResult:
        newest = now // BUCKET_SECS
        periods = range(newest - LOOKBACK_BUCKETS, newest + 1)
        buckets = [bucket_name(period, shard) for period in periods for shard in range(BUCKET_SHARDS)]
        # Hundreds of small queries, mostly empty: run them side by side, like the deletes.
        with ThreadPoolExecutor(max_workers=8) as pool:
            keys = [key for found in pool.map(lambda bucket: self._expired_in(bucket, now), buckets) for key in found]
            deleted = sum(pool.map(lambda call_id: self._delete_if_expired(call_id, now), keys))
        return CleanupResult(examined=len(keys), deleted=deleted)
