"""SessionStore on one DynamoDB table: every create and merge one conditional write."""

from __future__ import annotations

import json
import random
import secrets
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeGuard, cast

from session_rules.limits import INCARNATION_LENGTH, MAX_METADATA_BYTES, MAX_RETIRED_INCARNATIONS

from ..errors import IncarnationRetired, MetadataTooLarge, RestartLimit, SessionBusy, SessionEnded, SessionNotFound
from .expiry import ExpiryIndex, expiry_bucket
from .incarnations import accepting, retiring
from .interface import CleanupResult, Session
from .items import Attr, dump, entries, entry_bytes, incarnation_set, n, new_version, own_incarnation, s, stored_bytes

if TYPE_CHECKING:  # stubs for mypy only: the layer does not ship them
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import PutItemInputTypeDef

    from ..config import Clock

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
        self._expiry = ExpiryIndex(table_name, client)

    def _now(self) -> int:
        return int(self.clock())

    def _key(self, call_id: str) -> dict[str, Any]:
        return {Attr.KEY: s(call_id)}

    def _session(self, item: Mapping[str, Any]) -> Session:
        own = own_incarnation(item)
        return Session(
            call_id=item[Attr.KEY]["S"],
            expires_at=int(item[Attr.EXPIRES_AT]["N"]),
            ended=item.get(Attr.ENDED, {}).get("BOOL", False),
            metadata={k: json.loads(v["S"]) for k, v in entries(item).items()},
            incarnation=own,
            incarnations=(own, *sorted(incarnation_set(item) - {own})),
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
                    ":exp": n(until),
                    ":bucket": s(expiry_bucket(call_id, until)),
                    ":ver": s(new_version()),
                    ":now": n(now),
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
        written = {k: dump(v) for k, v in metadata.items()}
        size = stored_bytes(written)
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
        """
        return "#ver = :seen", {"#ver": Attr.VERSION}, {":seen": item[Attr.VERSION]}

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
        one keeps the ended one's incarnations retired (retiring), so it is conditioned on the
        version read: a restart in between (perhaps ended again since) would have retired more.
        It then lives at least as long as they stay retired: TTL deletion must not forget them.
        IncarnationRetired when `own` is one of them, RestartLimit past MAX_RETIRED_INCARNATIONS.
        """
        retired = retiring(ended, now) if ended is not None else {}
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
            names, values = {"#key": Attr.KEY, "#exp": Attr.EXPIRES_AT}, {":now": n(now)}
        else:
            condition, names, values = self._guard(ended)
        request: PutItemInputTypeDef = {
            "TableName": self.table,
            "Item": {
                **self._key(call_id),
                Attr.EXPIRES_AT: n(expires_at),
                Attr.BUCKET: s(expiry_bucket(call_id, expires_at)),
                Attr.ENDED: {"BOOL": False},
                Attr.INCARNATION: s(incarnation),
                Attr.INCARNATIONS: {"SS": [incarnation]},
                Attr.VERSION: s(new_version()),
                Attr.METADATA: {"M": dict(written)},
                Attr.SIZE: n(size),
                **({Attr.RETIRED: {"M": {inc: n(until) for inc, until in retired.items()}}} if retired else {}),
            },
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if values:  # DynamoDB refuses an empty map of values
            request["ExpressionAttributeValues"] = values
        self.client.put_item(**request)
        return Session(call_id, expires_at, False, dict(metadata), incarnation=incarnation, incarnations=(incarnation,))

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
        accept, accept_conditions, accept_names, accept_values = accepting(item, incarnation, now)
        stored = entries(item)
        stored_size = stored_bytes(stored)
        growth = written_size - sum(entry_bytes(k, stored[k]["S"]) for k in written if k in stored)
        size = stored_size + growth
        if size + 1 > MAX_METADATA_BYTES:  # + 1: the opening brace
            raise MetadataTooLarge()
        expires_at = max(now + ttl, int(item[Attr.EXPIRES_AT]["N"]))
        names = {"#md": Attr.METADATA, "#exp": Attr.EXPIRES_AT, "#bucket": Attr.BUCKET, "#ver": Attr.VERSION}
        names |= {"#ended": Attr.ENDED, "#size": Attr.SIZE, **accept_names}
        values: dict[str, Any] = {
            **accept_values,
            ":exp": n(expires_at),
            ":bucket": s(expiry_bucket(call_id, expires_at)),
            ":ver": s(new_version()),
            ":now": n(now),
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
                | {":md": {"M": {**stored, **written}}, ":size": n(size)},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )["Attributes"]
            return self._session(attributes)
        sets = ["#exp = :exp", "#bucket = :bucket", "#ver = :ver"]
        # The size may have grown since the read (false, too, where the attribute is missing), the
        # expiry too: never lowered.
        conditions = [active, "#size <= :room", "#exp <= :exp"]
        values[":room"] = n(MAX_METADATA_BYTES - 1 - growth)
        values[":growth"] = n(growth)
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
                    ":now": n(self._now()),
                    ":false": {"BOOL": False},
                    ":empty": {"M": {}},
                    ":zero": n(0),
                    ":ver": s(new_version()),
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

    def delete_expired(self, now: int) -> CleanupResult:
        return self._expiry.delete_expired(now)
