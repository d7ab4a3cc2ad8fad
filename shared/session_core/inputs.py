"""Request parsing: the API's input rules, one function per field, each failing with a clear 400.

Plain Python rather than pydantic so that the validate and token paths stay light to import.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from session_rules import limits
from session_rules.codes import ErrorCode

from .errors import BadRequest

# Where a lone surrogate can hide in decoded text: raw, or as a \\uD800-\\uDFFF escape.
_SURROGATE = re.compile("[\ud800-\udfff]|\\\\u[dD][89a-fA-F]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _InexactNumber(ValueError):
    """A JSON number that would not come back with the value sent."""


def _exact_float(text: str) -> float:
    """A JSON number with a fraction or an exponent, as the float that writes back the value sent.

    Values come back as the shortest text of their IEEE 754 double (what JSON.stringify writes
    too), so a number that double would change is refused rather than silently changed: more
    digits than it holds (0.10000000000000000000001, 9007199254740993.0), beyond its range (1e400)
    or below it (1e-400). RFC 8259 section 6 calls precision and range beyond binary64 not
    interoperable. Integers without either are Python ints and come back exactly, any size.
    """
    from decimal import Decimal, InvalidOperation  # only bodies with such numbers pay for the import

    value = float(text)
    try:
        exact = Decimal(repr(value)) == Decimal(text)  # inf's repr is "inf": never equal to a number
    except InvalidOperation:  # an exponent beyond even Decimal's (1e999999999999999999999)
        exact = False
    if not exact:
        raise _InexactNumber(
            f"the number {text[:40]} would not come back as sent: numbers must keep their value as IEEE 754 doubles"
        )
    return value


# One decoder: json.loads(..., **kw) would build one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_exact_float)


def json_object(body: str | bytes | None) -> dict[str, Any]:
    """The request body as a JSON object (strict: no NaN/Infinity, valid UTF-8)."""
    if body is None or body == "" or body == b"":
        raise BadRequest("the request needs a JSON object body", ErrorCode.INVALID_BODY)
    if isinstance(body, bytes):
        try:  # json.loads alone would also take UTF-16/32 and UTF-8-encoded surrogates
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest("the body is not valid UTF-8", ErrorCode.INVALID_JSON) from exc
    try:
        value = _DECODER.decode(body)
    except _InexactNumber as exc:  # valid JSON, but a value the service would change
        raise BadRequest(str(exc), ErrorCode.INVALID_JSON) from exc
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise BadRequest(f"the body is not valid JSON: {exc}", ErrorCode.INVALID_JSON) from exc
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object", ErrorCode.INVALID_BODY)
    if _SURROGATE.search(body) and not _is_unicode(value):
        # A lone "\ud800" parses, but no UTF-8 writer (DynamoDB, the response) can encode it.
        raise BadRequest("the body escapes a lone surrogate, which is not a Unicode character", ErrorCode.INVALID_JSON)
    return value


def _is_unicode(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def require(body: Mapping[str, Any], name: str) -> Any:
    if name not in body:
        raise BadRequest(f"'{name}' is required", ErrorCode.MISSING_FIELD)
    return body[name]


CALL_ID_MESSAGE = f"call_id must be {limits.CALL_ID_RULE}"


def call_id(value: Any) -> str:
    if not limits.is_call_id(value):
        raise BadRequest(CALL_ID_MESSAGE, ErrorCode.INVALID_CALL_ID)
    return value


def function_name(value: Any) -> str:
    if not limits.is_function_name(value):
        raise BadRequest(f"function names are {limits.FUNCTION_NAME_RULE}", ErrorCode.INVALID_FUNCTION)
    return value


def function_names(body: Mapping[str, Any]) -> list[str]:
    """`function` (one name) or `functions` (1-64 names), not both; each name once, in order."""
    if "function" in body and "functions" in body:  # neither is dropped silently: the request says two things
        raise BadRequest("give 'function' or 'functions', not both", ErrorCode.INVALID_BODY)
    if "function" not in body and "functions" not in body:
        raise BadRequest("'function' or 'functions' is required", ErrorCode.MISSING_FIELD)
    if "function" in body:
        return [function_name(body["function"])]
    names = body["functions"]
    if not isinstance(names, list) or not 1 <= len(names) <= limits.MAX_BATCH:
        raise BadRequest(f"'functions' must be a list of 1-{limits.MAX_BATCH} names", ErrorCode.INVALID_FUNCTION)
    return list(dict.fromkeys(function_name(n) for n in names))


def flag(body: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise BadRequest(f"'{name}' must be true or false", ErrorCode.INVALID_BODY)
    return value


def incarnation(body: Mapping[str, Any]) -> str | None:
    """The optional `incarnation` a client holding the signing key picked for its tokens."""
    value = body.get("incarnation")
    if value is None:
        return None
    if not limits.is_incarnation(value):
        raise BadRequest(f"incarnation must be {limits.INCARNATION_RULE}", ErrorCode.INVALID_INCARNATION)
    return value


def token_lifetime(body: Mapping[str, Any], maximum: int) -> int | None:
    """The optional `token_expiry_secs`: 1 to `maximum` (the stack's MaxTokenLifetimeSecs) seconds."""
    value = body.get("token_expiry_secs")
    if value is None:
        return None
    if not limits.is_token_lifetime(value):
        raise BadRequest(f"token_expiry_secs must be {limits.TOKEN_LIFETIME_RULE}", ErrorCode.INVALID_TOKEN_EXPIRY)
    if value > maximum:
        raise BadRequest(
            f"token_expiry_secs exceeds this stack's MaxTokenLifetimeSecs ({maximum})", ErrorCode.LIFETIME_EXCEEDED
        )
    return value


def token(value: Any) -> str:
    if not limits.is_token_text(value):
        raise BadRequest(f"token must be a string of 1-{limits.MAX_TOKEN_LENGTH} characters", ErrorCode.INVALID_TOKEN)
    return value


def metadata(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest("metadata must be a JSON object", ErrorCode.INVALID_METADATA)
    for key in value:
        metadata_key(key)
    return value


def metadata_key(value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= limits.MAX_METADATA_KEY_LENGTH:
        raise BadRequest(f"metadata keys are 1-{limits.MAX_METADATA_KEY_LENGTH} characters", ErrorCode.INVALID_METADATA)
    return value


def metadata_patch(body: Mapping[str, Any]) -> dict[str, Any]:
    """`{"metadata": {...}}` or `{"key": k, "value": v}` as one object to merge."""
    if "metadata" in body:
        if "key" in body or "value" in body:  # one form or the other, never half of each ignored
            raise BadRequest("give either 'metadata' or 'key' and 'value'", ErrorCode.INVALID_BODY)
        return metadata(body["metadata"])
    return {metadata_key(require(body, "key")): require(body, "value")}
