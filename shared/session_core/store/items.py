"""The item a session is stored as: its attribute names, how values are written, and its metadata's size.

Metadata values are stored as JSON text inside a map, one map entry per key, so any JSON value
(floats, big ints, nesting, null) comes back exactly as sent: DynamoDB numbers would turn 1.0
into 1 and reject out-of-range floats.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any


class Attr:
    """Item attribute names, in one place. `template.yaml` declares KEY, BUCKET and EXPIRES_AT."""

    KEY = "call_id"
    EXPIRES_AT = "expires_at"  # epoch seconds; the table's TTL attribute
    BUCKET = "expiry_bucket"  # partition key of the expiry index
    ENDED = "ended"
    METADATA = "md"
    INCARNATION = "incarnation"  # the session's own, set at its start: the service's tokens carry it in their nonce
    INCARNATIONS = "incarnations"  # string set: every incarnation the session accepts, its own included
    # Map: incarnation of an ended session of the call id -> until when tokens minted under it can live.
    RETIRED = "retired"
    SIZE = "md_bytes"  # the metadata's size by the 64 KiB measure, less one (see entry_bytes)
    VERSION = "ver"  # random per write: a whole-item write's condition that nobody wrote since its read


def metadata_size(metadata: Mapping[str, Any]) -> int:
    """Bytes of the metadata serialized as compact UTF-8 JSON (the 64 KiB limit's measure)."""
    return len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode())


def entry_bytes(key: str, text: str) -> int:
    """One stored entry's share of metadata_size: `"key":value` and its comma or closing brace.

    So a non-empty object's size is one (the opening brace) plus its entries' sum, and a merge's
    change in size is the sum over its own keys alone, whatever other keys hold.
    """
    return len(json.dumps(key, ensure_ascii=False).encode()) + len(text.encode()) + 2


def stored_bytes(entries: Mapping[str, Mapping[str, str]]) -> int:
    return sum(entry_bytes(k, v["S"]) for k, v in entries.items())


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def dump(value: Any) -> dict[str, str]:
    return {"S": json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)}


def new_version() -> str:
    return secrets.token_hex(8)


def entries(item: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The item's metadata map as stored: key -> {"S": JSON text}."""
    entries: dict[str, dict[str, str]] = item.get(Attr.METADATA, {}).get("M", {})
    return entries


def own_incarnation(item: Mapping[str, Any]) -> str:
    own: str = item.get(Attr.INCARNATION, {}).get("S", "")
    return own


def incarnation_set(item: Mapping[str, Any]) -> set[str]:
    return set(item.get(Attr.INCARNATIONS, {}).get("SS", ()))
