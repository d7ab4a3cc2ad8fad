"""Which incarnations a session's item accepts and keeps retired, and what a merge writes to accept one more."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from session_rules.limits import MAX_INCARNATIONS

from ..errors import IncarnationLimit, IncarnationRetired
from .items import Attr, incarnation_set, n, s


def retired(item: Mapping[str, Any], now: int) -> dict[str, int]:
    """The item's retired incarnations whose tokens can still be alive: incarnation -> until when."""
    entries: Mapping[str, Any] = item.get(Attr.RETIRED, {}).get("M", {})
    return {inc: until for inc, value in entries.items() if (until := int(value["N"])) > now}


def retiring(ended: Mapping[str, Any], now: int) -> dict[str, int]:
    """What a session started over `ended` keeps retired: the ended session's incarnations until its
    expiry (no token minted under them outlives it), and what it kept retired itself, still alive.

    An item's expiry is never before its retired entries' (a start over it lives at least as long),
    so an expired item has none alive and nothing carries over from it.
    """
    until = int(ended[Attr.EXPIRES_AT]["N"])
    return {**retired(ended, now), **dict.fromkeys(incarnation_set(ended), until)}


def accepting(
    item: Mapping[str, Any], incarnation: str | None, now: int
) -> tuple[str, list[str], dict[str, str], dict[str, Any]]:
    """What a merge adds to have the session accept `incarnation`: (ADD clause or "", conditions,
    names, values), the conditions making the item as read the one written to. IncarnationRetired
    when it belonged to an ended session of the call id whose tokens can still be alive,
    IncarnationLimit when the session already accepts MAX_INCARNATIONS.
    """
    if incarnation is None:
        return "", [], {}, {}
    if incarnation in retired(item, now):
        raise IncarnationRetired()
    # Whatever the read saw, the item written to has not retired it (a start since may have).
    conditions = ["(attribute_not_exists(#retired.#inc) OR #retired.#inc <= :now)"]
    names = {"#retired": Attr.RETIRED, "#inc": incarnation, "#incs": Attr.INCARNATIONS}
    stored = incarnation_set(item)
    if incarnation in stored:  # nothing to add, unless the session was started afresh since the read
        return "", [*conditions, "contains(#incs, :inc)"], names, {":inc": s(incarnation)}
    if len(stored) >= MAX_INCARNATIONS:
        raise IncarnationLimit()
    # Others may have added theirs since the read: the bound holds whatever they added.
    return (
        "#incs :add",
        [*conditions, "size(#incs) < :most"],
        names,
        {":add": {"SS": [incarnation]}, ":most": n(MAX_INCARNATIONS)},
    )
