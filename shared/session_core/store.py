"""Session persistence: the SessionStore interface and its DynamoDB implementation.

One item per call id. Metadata values are stored as JSON text inside a map, one map
entry per key, so any JSON value (floats, big ints, nesting, null) comes back exactly
as sent: DynamoDB numbers would turn 1.0 into 1 and reject out-of-range floats.
"""

from __future__ import annotations

import json
import random
import secrets
import time
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard, cast

from session_rules.limits import (
    INCARNATION_LENGTH,
    MAX_INCARNATIONS,
    MAX_METADATA_BYTES,
    MAX_RETIRED_INCARNATIONS,
)

from .errors import (
    IncarnationLimit,
    IncarnationRetired,
    MetadataTooLarge,
    RestartLimit,
    SessionBusy,
    SessionEnded,
    SessionNotFound,
)

if TYPE_CHECKING:  # stubs for mypy only: the layer does not ship them
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import PutItemInputTypeDef

    from .config import Clock


class Attr:
    """Item attribute names, in one place. `template.yaml` declares KEY, BUCKET and EXPIRES_AT."""

    KEY = "call_id"
    EXPIRES_AT = "expires_at"  # epoch seconds; the table's TTL attribute
    BUCKET = "expiry_bucket"  # partition key of the expiry index
    ENDED = "ended"
    METADATA = "md"
    CREATED_AT = "created_at"
    INCARNATION = "incarnation"  # the session's own, set at its start: the service's tokens carry it in their nonce
    INCARNATIONS = "incarnations"  # string set: every incarnation the session accepts, its own included
    # Map: incarnation of an ended session of the call id -> until when tokens minted under it can live.
    RETIRED = "retired"
    SIZE = "md_bytes"  # the metadata's size by the 64 KiB measure, less one (see _entry_bytes)
    VERSION = "ver"  # random per write: a whole-item write's condition that nobody wrote since its read


EXPIRY_INDEX = "by-expiry"
BUCKET_SECS = 3600  # an expiry bucket spans one hour of expiry times
BUCKET_SHARDS = 8  # spreads one hour's writes over 8 index partitions
LOOKBACK_BUCKETS = 72  # cleanup looks back three days, past DynamoDB's own TTL lag
# A merge of up to this many keys names each key in its expressions (about 45 bytes a key), so
# merges of different keys do not conflict; a larger one writes the whole map. Either way the
# expressions stay far below DynamoDB's 4 KB limit.
KEYS_PER_UPDATE = 50
# A create or merge whose condition keeps failing under other writers gives up (SessionBusy, 503)
# after this many writes. Each failure means another write went through; the waits (at most about
# 1 s in all) keep a retrying request well inside the functions' 5 s timeout.
WRITE_ATTEMPTS = 16
BACKOFF_BASE_SECS = 0.002  # the first retry goes at once; later ones wait up to base * 2**attempt
BACKOFF_CAP_SECS = 0.1


def bucket_name(period: int, shard: int) -> str:
    """Partition key of the expiry index: which hour of expiry times, which shard."""
    return f"{period}#{shard}"


def expiry_bucket(call_id: str, expires_at: int) -> str:
    return bucket_name(expires_at // BUCKET_SECS, zlib.crc32(call_id.encode()) % BUCKET_SHARDS)


def metadata_size(metadata: Mapping[str, Any]) -> int:
    """Bytes of the metadata serialized as compact UTF-8 JSON (the 64 KiB limit's measure)."""
    return len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())


def _entry_bytes(key: str, text: str) -> int:
    """One stored entry's share of metadata_size: `"key":value` and its comma or closing brace.

    So a non-empty object's size is one (the opening brace) plus its entries' sum, and a merge's
    change in size is the sum over its own keys alone, whatever other keys hold.
    """
    return len(json.dumps(key, ensure_ascii=False).encode()) + len(text.encode()) + 2


def _stored_bytes(entries: Mapping[str, Mapping[str, str]]) -> int:
    return sum(_entry_bytes(k, v["S"]) for k, v in entries.items())


def _own_incarnation(item: Mapping[str, Any]) -> str:
    own: str = item.get(Attr.INCARNATION, {}).get("S", "")
    return own


def _incarnation_set(item: Mapping[str, Any]) -> set[str]:
    return set(item.get(Attr.INCARNATIONS, {}).get("SS", ()))


def _retired(item: Mapping[str, Any], now: int) -> dict[str, int]:
    """The item's retired incarnations whose tokens can still be alive: incarnation -> until when."""
    entries: Mapping[str, Any] = item.get(Attr.RETIRED, {}).get("M", {})
    return {inc: until for inc, value in entries.items() if (until := int(value["N"])) > now}


def _retiring(ended: Mapping[str, Any], now: int) -> dict[str, int]:
    """What a session started over `ended` keeps retired: the ended session's incarnations until its
    expiry (no token minted under them outlives it), and what it kept retired itself, still alive.

    An item's expiry is never before its retired entries' (a start over it lives at least as long),
    so an expired item has none alive and nothing carries over from it.
    """
    until = int(ended[Attr.EXPIRES_AT]["N"])
    accepted = _incarnation_set(ended) | ({own} if (own := _own_incarnation(ended)) else set())
    return {**_retired(ended, now), **dict.fromkeys(accepted, until)}


def _accepting(
    item: Mapping[str, Any], incarnation: str | None, now: int
) -> tuple[str, list[str], dict[str, str], dict[str, Any]]:
    """What a merge adds to have the session accept `incarnation`: (ADD clause or "", conditions,
    names, values), the conditions making the item as read the one written to. IncarnationRetired
    when it belonged to an ended session of the call id whose tokens can still be alive,
    IncarnationLimit when the session already accepts MAX_INCARNATIONS others.

    The set holds the session's own incarnation from its start; an item written before the set
    existed holds only its own, which the set then starts from.
    """
    if incarnation is None:
        return "", [], {}, {}
    if incarnation in _retired(item, now):
        raise IncarnationRetired()
    # Whatever the read saw, the item written to has not retired it (a start since may have).
    conditions = ["(attribute_not_exists(#retired.#inc) OR #retired.#inc <= :now)"]
    names = {"#retired": Attr.RETIRED, "#inc": incarnation}
    stored, own = _incarnation_set(item), _own_incarnation(item)
    if incarnation in stored:  # nothing to add, unless the session was started afresh since the read
        names["#incs"] = Attr.INCARNATIONS
        return "", [*conditions, "contains(#incs, :inc)"], names, {":inc": _s(incarnation)}
    if not stored and incarnation == own:
        return "", [*conditions, "#own = :inc"], names | {"#own": Attr.INCARNATION}, {":inc": _s(incarnation)}
    names["#incs"] = Attr.INCARNATIONS
    accepted = stored | ({own} if own else set())
    if len(accepted) >= MAX_INCARNATIONS:
        raise IncarnationLimit()
    if stored:  # others may have added theirs since the read: the bound holds whatever they added
        return (
            "#incs :add",
            [*conditions, "size(#incs) < :most"],
            names,
            {":add": {"SS": [incarnation]}, ":most": _n(MAX_INCARNATIONS)},
        )
    return (
        "#incs :add",
        [*conditions, "attribute_not_exists(#incs)"],
        names,
        {":add": {"SS": sorted(accepted | {incarnation})}},
    )


@dataclass(frozen=True, slots=True)
class Session:
    call_id: str
    expires_at: int
    ended: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: int = 0  # when this incarnation of the call id started (epoch seconds)
    incarnation: str = ""  # INCARNATION_LENGTH lowercase hex, new each time the call id starts a session
    # Every incarnation the session accepts (its own first): those clients holding the key added.
    incarnations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CleanupResult:
    examined: int
    deleted: int


class SessionStore(Protocol):
    def get(self, call_id: str) -> Session | None:
        """The session, or None when absent or past its expiry (ended sessions are returned)."""

    def create(
        self,
        call_id: str,
        metadata: Mapping[str, Any],
        ttl: int,
        *,
        restart: bool = True,
        incarnation: str | None = None,
    ) -> tuple[Session, bool]:
        """Start a session, or merge into the active one; True when it was started.

        An ended session is replaced by a fresh one when `restart`, else SessionEnded. With
        `incarnation`, a start takes it as the session's own and a merge has the session accept
        it too (IncarnationLimit past MAX_INCARNATIONS). The session lives at least `ttl` seconds more.
        """

    def merge_metadata(self, call_id: str, metadata: Mapping[str, Any], ttl: int) -> Session:
        """Merge keys into the session's metadata (starting it if absent); it lives at least `ttl` seconds more."""

    def extend(self, call_id: str, until: int) -> None:
        """Keep the active session until at least `until` (epoch seconds).

        SessionNotFound when it does not exist or has expired, SessionEnded when it was ended.
        """

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


def _version() -> str:
    return secrets.token_hex(8)


def _entries(item: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The item's metadata map as stored: key -> {"S": JSON text}."""
    entries: dict[str, dict[str, str]] = item.get(Attr.METADATA, {}).get("M", {})
    return entries


class DynamoSessionStore:
    """SessionStore on one DynamoDB table (low-level client: no type-serializer round trip).

    Every create and merge is one conditional write, computed from the item as read: the merged
    metadata's size is checked here, before anything is written, and the condition that the item
    still is as the computation assumed makes the check hold however many writers race. So a write
    is all or nothing whatever the number of keys, the 64 KiB limit always holds, and a refused
    write changes nothing. A write whose condition fails retries on the item the failure returned.

    - Start (absent, expired, or ended when creating): a PutItem of a fresh session, on the
      condition that the item is still in a state that may be started over.
    - Merge of up to KEYS_PER_UPDATE keys: `SET md.#k = :v` for each, on the condition that each
      of these keys still holds what was read and that the stored size (`md_bytes`, moved by
      `ADD`) leaves room; merges of other keys do not make it fail.
    - Larger merge, or an item whose stored size disagrees with its map (which the whole-map
      write repairs): the whole map, on the condition that the item's version (`ver`, new at
      every write) is the one read.
    """

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient,
        clock: Clock = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.table = table_name
        self.client = client
        self.clock = clock
        self.sleep = sleep
        self._conditional_failure = client.exceptions.ConditionalCheckFailedException

    def _now(self) -> int:
        return int(self.clock())

    def _key(self, call_id: str) -> dict[str, Any]:
        return {Attr.KEY: _s(call_id)}

    def _session(self, item: Mapping[str, Any]) -> Session:
        own = _own_incarnation(item)
        return Session(
            call_id=item[Attr.KEY]["S"],
            expires_at=int(item[Attr.EXPIRES_AT]["N"]),
            ended=item.get(Attr.ENDED, {}).get("BOOL", False),
            metadata={k: json.loads(v["S"]) for k, v in _entries(item).items()},
            created_at=int(item.get(Attr.CREATED_AT, {}).get("N", 0)),
            incarnation=own,
            incarnations=((own,) if own else ()) + tuple(sorted(_incarnation_set(item) - {own})),
        )

    def _live(self, item: Mapping[str, Any] | None, now: int) -> TypeGuard[Mapping[str, Any]]:
        """An item counts only until its expiry: TTL deletion can lag by days."""
        return item is not None and int(item[Attr.EXPIRES_AT]["N"]) > now

    def _read(self, call_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.client.get_item(
            TableName=self.table, Key=self._key(call_id), ConsistentRead=True
        ).get("Item")
        return item

    def get(self, call_id: str) -> Session | None:
        item = self._read(call_id)
        return self._session(item) if self._live(item, self._now()) else None

    def create(
        self,
        call_id: str,
        metadata: Mapping[str, Any],
        ttl: int,
        *,
        restart: bool = True,
        incarnation: str | None = None,
    ) -> tuple[Session, bool]:
        # No read first: a new call id is the common case, and a refused insert returns the item.
        return self._upsert(call_id, metadata, ttl, creating=True, restart=restart, item=None, incarnation=incarnation)

    def merge_metadata(self, call_id: str, metadata: Mapping[str, Any], ttl: int) -> Session:
        return self._upsert(call_id, metadata, ttl, creating=False, restart=False, item=self._read(call_id))[0]

    def extend(self, call_id: str, until: int) -> None:
        """One conditional write, and only the expiry moves (and the version, so that a whole-map
        merge computed before it cannot lower it again): nothing is written when it already reaches."""
        now = self._now()
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(call_id),
                UpdateExpression="SET #exp = :exp, #bucket = :bucket, #ver = :ver",
                ConditionExpression="#exp > :now AND #ended = :false AND #exp < :exp",
                ExpressionAttributeNames={
                    "#exp": Attr.EXPIRES_AT,
                    "#bucket": Attr.BUCKET,
                    "#ver": Attr.VERSION,
                    "#ended": Attr.ENDED,
                },
                ExpressionAttributeValues={
                    ":exp": _n(until),
                    ":bucket": _s(expiry_bucket(call_id, until)),
                    ":ver": _s(_version()),
                    ":now": _n(now),
                    ":false": {"BOOL": False},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._conditional_failure as exc:
            item = cast("Mapping[str, Any] | None", exc.response.get("Item"))
            if not self._live(item, now):
                raise SessionNotFound() from None
            if item.get(Attr.ENDED, {}).get("BOOL", False):
                raise SessionEnded() from None
            # Otherwise it already lives long enough.

    def _upsert(
        self,
        call_id: str,
        metadata: Mapping[str, Any],
        ttl: int,
        *,
        creating: bool,
        restart: bool,
        item: Mapping[str, Any] | None,
        incarnation: str | None = None,
    ) -> tuple[Session, bool]:
        """Start or merge, whichever the item's state calls for, in one conditional write.

        Absent or expired: a fresh session. Active: a merge. Ended: a fresh session when creating
        with `restart`, else SessionEnded. `item` is the item as last seen (None: assumed absent). After the
        first failed condition each retry waits a short random time, so colliding writers spread out.
        """
        # Serialized once, before any write: a value JSON cannot carry (NaN, infinity) fails here.
        written = {k: _dump(v) for k, v in metadata.items()}
        size = _stored_bytes(written)
        if size + 1 > MAX_METADATA_BYTES:  # + 1: the opening brace (an empty object, 2 bytes, always fits)
            raise MetadataTooLarge()
        for attempt in range(WRITE_ATTEMPTS):
            if attempt > 1:
                self.sleep(random.uniform(0, min(BACKOFF_CAP_SECS, BACKOFF_BASE_SECS * 2**attempt)))
            now = self._now()
            try:
                ended = None
                if self._live(item, now):
                    if not item.get(Attr.ENDED, {}).get("BOOL", False):
                        return self._merge(call_id, item, written, size, ttl, now, incarnation), False
                    if not (creating and restart):
                        raise SessionEnded()
                    ended = item
                return self._start(call_id, metadata, written, size, ttl, now, ended=ended, own=incarnation), True
            except self._conditional_failure as exc:
                # The item as it is now (absent: no Item); the stubs' error response does not name it.
                item = cast("Mapping[str, Any] | None", exc.response.get("Item"))
        raise SessionBusy()

    def _guard(self, item: Mapping[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
        """The condition that nobody wrote the item since it was read: (expression, names, values).

        Every write sets a new random version, so an item ended, emptied or deleted and started
        again since the read never matches (a counter could, once a deleted item counts up again).
        Items written before versions existed match by having none.
        """
        if Attr.VERSION in item:
            return "#ver = :seen", {"#ver": Attr.VERSION}, {":seen": item[Attr.VERSION]}
        return "attribute_exists(#key) AND attribute_not_exists(#ver)", {"#key": Attr.KEY, "#ver": Attr.VERSION}, {}

    def _start(
        self,
        call_id: str,
        metadata: Mapping[str, Any],
        written: Mapping[str, dict[str, str]],
        size: int,
        ttl: int,
        now: int,
        *,
        ended: Mapping[str, Any] | None,
        own: str | None = None,
    ) -> Session:
        """Replace the item (absent or expired; or `ended`, the ended session as read) with a fresh
        session, whose own incarnation is `own` when given (a client's), else a random one.

        Absent or expired, the condition is the item's state as written: whatever happened since,
        a start is right as long as nothing active stands there. Over an ended session, the fresh
        one keeps the ended one's incarnations retired (_retiring), so it is conditioned on the
        version read: a restart in between (perhaps ended again since) would have retired more.
        It then lives at least as long as they stay retired: TTL deletion must not forget them.
        IncarnationRetired when `own` is one of them, RestartLimit past MAX_RETIRED_INCARNATIONS.
        """
        retired = _retiring(ended, now) if ended is not None else {}
        if own in retired:
            raise IncarnationRetired()
        if len(retired) > MAX_RETIRED_INCARNATIONS:
            raise RestartLimit()
        expires_at = max([now + ttl, *retired.values()])
        incarnation = own
        while incarnation is None or incarnation in retired:
            incarnation = secrets.token_hex(INCARNATION_LENGTH // 2)
        names: dict[str, str]
        values: dict[str, Any]
        if ended is None:
            condition = "attribute_not_exists(#key) OR #exp <= :now"
            names, values = {"#key": Attr.KEY, "#exp": Attr.EXPIRES_AT}, {":now": _n(now)}
        else:
            condition, names, values = self._guard(ended)
        request: PutItemInputTypeDef = {
            "TableName": self.table,
            "Item": {
                **self._key(call_id),
                Attr.EXPIRES_AT: _n(expires_at),
                Attr.BUCKET: _s(expiry_bucket(call_id, expires_at)),
                Attr.CREATED_AT: _n(now),
                Attr.ENDED: {"BOOL": False},
                Attr.INCARNATION: _s(incarnation),
                Attr.INCARNATIONS: {"SS": [incarnation]},
                Attr.VERSION: _s(_version()),
                Attr.METADATA: {"M": dict(written)},
                Attr.SIZE: _n(size),
                **({Attr.RETIRED: {"M": {inc: _n(until) for inc, until in retired.items()}}} if retired else {}),
            },
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if values:  # DynamoDB refuses an empty map of values
            request["ExpressionAttributeValues"] = values
        self.client.put_item(**request)
        return Session(
            call_id,
            expires_at,
            False,
            dict(metadata),
            created_at=now,
            incarnation=incarnation,
            incarnations=(incarnation,),
        )

    def _merge(
        self,
        call_id: str,
        item: Mapping[str, Any],
        written: Mapping[str, dict[str, str]],
        written_size: int,
        ttl: int,
        now: int,
        incarnation: str | None = None,
    ) -> Session:
        """Merge into the active session, have it accept `incarnation` and live at least `ttl` seconds
        more; MetadataTooLarge or IncarnationLimit before any write.

        The expiry never moves back: tokens minted earlier with a longer lifetime keep their session.
        """
        accept, accept_conditions, accept_names, accept_values = _accepting(item, incarnation, now)
        stored = _entries(item)
        stored_size = _stored_bytes(stored)
        growth = written_size - sum(_entry_bytes(k, stored[k]["S"]) for k in written if k in stored)
        size = stored_size + growth
        if size + 1 > MAX_METADATA_BYTES:  # + 1: the opening brace
            raise MetadataTooLarge()
        expires_at = max(now + ttl, int(item[Attr.EXPIRES_AT]["N"]))
        names = {"#md": Attr.METADATA, "#exp": Attr.EXPIRES_AT, "#bucket": Attr.BUCKET, "#ver": Attr.VERSION}
        names |= {"#ended": Attr.ENDED, "#size": Attr.SIZE, **accept_names}
        values: dict[str, Any] = {
            **accept_values,
            ":exp": _n(expires_at),
            ":bucket": _s(expiry_bucket(call_id, expires_at)),
            ":ver": _s(_version()),
            ":now": _n(now),
            ":false": {"BOOL": False},
        }
        # Still active: nothing else in a per-key condition stops a merge reviving a session expired since.
        active = " AND ".join(["#exp > :now AND #ended = :false", *accept_conditions])
        adds = f" ADD {accept}" if accept else ""
        # The per-key write checks the stored size, which only this store maintains: where it is
        # not the map's (a writer that did not keep it), the whole-map write sets it right.
        if len(written) > KEYS_PER_UPDATE or item.get(Attr.SIZE, {}).get("N") != str(stored_size):
            condition, guard_names, guard_values = self._guard(item)
            attributes = self.client.update_item(
                TableName=self.table,
                Key=self._key(call_id),
                UpdateExpression="SET #md = :md, #size = :size, #exp = :exp, #bucket = :bucket, #ver = :ver" + adds,
                ConditionExpression=f"{condition} AND {active}",
                ExpressionAttributeNames=names | guard_names,
                ExpressionAttributeValues=values
                | guard_values
                | {":md": {"M": {**stored, **written}}, ":size": _n(size)},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )["Attributes"]
            return self._session(attributes)
        sets = ["#exp = :exp", "#bucket = :bucket", "#ver = :ver"]
        # The size may have grown since the read (false, too, where the attribute is missing), the
        # expiry too: never lowered.
        conditions = [active, "#size <= :room", "#exp <= :exp"]
        values[":room"] = _n(MAX_METADATA_BYTES - 1 - growth)
        values[":growth"] = _n(growth)
        for i, (k, v) in enumerate(written.items()):
            names[f"#k{i}"] = k
            values[f":v{i}"] = v
            sets.append(f"#md.#k{i} = :v{i}")
            if k in stored:
                values[f":o{i}"] = stored[k]
                conditions.append(f"#md.#k{i} = :o{i}")
            else:
                conditions.append(f"attribute_not_exists(#md.#k{i})")
        if not written:
            del names["#md"]  # DynamoDB refuses a name that no expression uses
        attributes = self.client.update_item(
            TableName=self.table,
            Key=self._key(call_id),
            UpdateExpression=f"SET {', '.join(sets)} ADD #size :growth" + (f", {accept}" if accept else ""),
            ConditionExpression=" AND ".join(conditions),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",  # the session as this write left it, other writers' keys included
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )["Attributes"]
        return self._session(attributes)

    def _update_active(self, call_id: str, condition: str = "", *, ending: bool = False) -> bool:
        """Empty an active session's metadata (and end it); False when there is none or `condition` fails.

        It sets a new version too, so a start or whole-map merge that read the item before fails and retries.
        """
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(call_id),
                UpdateExpression="SET #md = :empty, #size = :zero, #ver = :ver"
                + (", #ended = :true" if ending else ""),
                ConditionExpression="#exp > :now AND #ended = :false" + condition,
                ExpressionAttributeNames={
                    "#exp": Attr.EXPIRES_AT,
                    "#ended": Attr.ENDED,
                    "#md": Attr.METADATA,
                    "#size": Attr.SIZE,
                    "#ver": Attr.VERSION,
                },
                ExpressionAttributeValues={
                    ":now": _n(self._now()),
                    ":false": {"BOOL": False},
                    ":empty": {"M": {}},
                    ":zero": _n(0),
                    ":ver": _s(_version()),
                    **({":true": {"BOOL": True}} if ending else {}),
                },
            )
        except self._conditional_failure:
            return False
        return True

    def delete_metadata(self, call_id: str) -> bool:
        return self._update_active(call_id, " AND size(#md) > :zero")

    def end(self, call_id: str) -> bool:
        return self._update_active(call_id, ending=True)

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
