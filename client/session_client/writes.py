"""Metadata writes checked before they are queued, as the service would check them, and encoded once.

With the key held, a write is queued and sent in the background, so the service's verdict on a
bad input would come too late for the caller to see. The rules are the service's
(session_rules.limits); a write that passes them can still be refused for the session's whole
metadata growing past the limit, which only the service can tell (logged and counted).

What is checked is a snapshot of the caller's values; the request body is encoded from it when it
is queued (transport.body_of), so a value the caller changes afterwards changes nothing that is sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NoReturn

from session_rules import limits
from session_rules.codes import ErrorCode

from .errors import refused_here


def checked(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """A snapshot of `metadata` to send (the caller's objects are not kept); SessionServiceError
    with the code the service's answer would carry."""
    for key in metadata:
        if not isinstance(key, str):
            _bad_key()
    try:  # TypeError (a value JSON cannot hold) is the caller's, as json.dumps raises it without the key
        text = json.dumps(dict(metadata), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        size = len(text.encode())
    except UnicodeEncodeError as exc:  # a lone surrogate (before ValueError, its base class)
        raise refused_here(
            ErrorCode.INVALID_JSON, "metadata holds a lone surrogate, which is not Unicode", 400
        ) from exc
    except ValueError as exc:  # NaN or infinity: not JSON
        raise refused_here(ErrorCode.INVALID_JSON, f"metadata is not JSON: {exc}", 400) from exc
    snapshot: dict[str, Any] = json.loads(text)  # what was measured, whatever the caller changes meanwhile
    if not all(1 <= len(key) <= limits.MAX_METADATA_KEY_LENGTH for key in snapshot):
        _bad_key()
    if size > limits.MAX_METADATA_BYTES:
        raise refused_here(
            ErrorCode.METADATA_TOO_LARGE, f"the session's metadata would exceed {limits.MAX_METADATA_BYTES} bytes", 413
        )
    return snapshot


def _bad_key() -> NoReturn:
    raise refused_here(
        ErrorCode.INVALID_METADATA, f"metadata keys are 1-{limits.MAX_METADATA_KEY_LENGTH} characters", 400
    )
