"""The routes' OpenAPI fragments: each one's request body and responses, for its decorator.

The handlers parse requests with inputs.py (no pydantic on the hot path), so Powertools
derives no request or response schema by itself. Each route passes its entry here as
decorator arguments: `responses=` and, for the body, `openapi_extensions={"requestBody": ...}`
(Powertools merges that into the operation as is). The rules come from session_rules.limits,
so the document and the checks cannot drift apart; plain dicts, cheap to import.
"""

from __future__ import annotations

from typing import Any

from session_rules import limits
from session_rules.codes import Reason

JSON = "application/json"

CALL_ID: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": limits.MAX_CALL_ID_LENGTH,
    "pattern": f"^{limits.CALL_ID_PATTERN}$",
    "description": limits.CALL_ID_RULE + " (characters percent-encoding leaves unchanged)",
}
# The path's call id: what the handlers act on, and what they refuse (http.path_call_id).
PATH_CALL_ID_DESCRIPTION = (
    "the call id; acted on only when the path parameter keeps the rule as a whole string and the path names "
    "exactly it: any other (a control character, NUL, a final newline, a decoded '?' or '#') is 400 invalid_call_id"
)
FUNCTION: dict[str, Any] = {
    "type": "string",
    "pattern": f"^{limits.FUNCTION_NAME_PATTERN}$",
    "description": "a SWAIG function name: " + limits.FUNCTION_NAME_RULE,
}
TOKEN: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": limits.MAX_TOKEN_LENGTH,
    "description": "base64url, padded or not",
}
METADATA_KEY: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": limits.MAX_METADATA_KEY_LENGTH}
METADATA: dict[str, Any] = {
    "type": "object",
    "propertyNames": METADATA_KEY,
    "description": f"any JSON values; a session's whole metadata at most {limits.MAX_METADATA_BYTES} bytes serialized",
}
EXPIRES_AT: dict[str, Any] = {"type": "integer", "description": "epoch seconds"}
INCARNATION: dict[str, Any] = {
    "type": "string",
    "pattern": f"^{limits.INCARNATION_PATTERN}$",
    "description": (
        f"{limits.INCARNATION_RULE}: picked by a client that holds the signing key and mints tokens whose"
        " nonce begins with it. A new session takes it as its own; an active one accepts it too"
        f" (at most {limits.MAX_INCARNATIONS} per session, else 409 incarnation_limit). One that belonged to"
        " an ended session of the call id whose tokens can still be alive is 409 incarnation_retired"
    ),
}
TOKEN_EXPIRY: dict[str, Any] = {
    "type": "integer",
    "minimum": limits.MIN_TOKEN_LIFETIME_SECS,
    "description": (
        "the lifetime in seconds of the tokens minted in this request (default: the stack's TokenExpirySecs);"
        " at most the stack's MaxTokenLifetimeSecs, else 400 lifetime_exceeded. The session lives at least"
        " as long as they do"
    ),
}
REASONS = list(Reason)
ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    "additionalProperties": False,
}
ERROR_MEANINGS = {
    400: "bad input: malformed JSON, a missing field or a value outside its rules",
    403: "debug mode is not enabled",
    404: "the session does not exist or has expired (or no such route)",
    409: (
        "the session was ended (create it again to start a new one), accepts no more incarnations, or the"
        " incarnation or restart would let tokens of an ended session of the call id be valid again"
    ),
    413: "the session's metadata would exceed its limit",
    500: "the service is misconfigured or failed unexpectedly; the error is logged (retrying does not help)",
    503: "throttled, timed out, a dependency unavailable or the session busy with concurrent writers; retry shortly",
}


def _object(required: list[str], properties: dict[str, Any], *, closed: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if closed:
        schema["additionalProperties"] = False
    return schema


def operation(
    summary: str,
    ok: dict[int, tuple[str, dict[str, Any]]],
    errors: tuple[int, ...],
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for a route decorator: summary, responses and request body."""
    responses: dict[int, Any] = {
        status: {"description": text, "content": {JSON: {"schema": schema}}} for status, (text, schema) in ok.items()
    }
    for status in (*errors, 500, 503):
        responses[status] = {"description": ERROR_MEANINGS[status], "content": {JSON: {"schema": ERROR}}}
    kwargs: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        kwargs["openapi_extensions"] = {"requestBody": {"required": True, "content": {JSON: {"schema": body}}}}
    return kwargs


_METADATA_REPLY = _object(["call_id", "metadata"], {"call_id": {"type": "string"}, "metadata": {"type": "object"}})

_FUNCTIONS = {"type": "array", "items": FUNCTION, "minItems": 1, "maxItems": limits.MAX_BATCH}
_TOKENS = {"type": "object", "propertyNames": FUNCTION, "additionalProperties": TOKEN}
_CREATED = _object(
    ["call_id", "expires_at"],
    {"call_id": CALL_ID, "expires_at": EXPIRES_AT, "tokens": _TOKENS, "tokens_expire_at": EXPIRES_AT},
)
CREATE = operation(
    "Start a call's session, or merge metadata into the active one; with `functions`, mint their tokens too",
    {201: ("session started", _CREATED), 200: ("the session was already active; metadata merged", _CREATED)},
    (400, 409, 413),
    body=_object(
        [],
        {
            "call_id": {"anyOf": [CALL_ID, {"type": "null"}]},
            "metadata": METADATA,
            "function": {**FUNCTION, "description": "mint a token for it; the answer's `tokens`"},
            "functions": {**_FUNCTIONS, "description": "mint a token for each; the answer's `tokens`"},
            "restart": {
                "type": "boolean",
                "default": True,
                "description": (
                    "an ended session under call_id: start a fresh one (true) or answer 409 (false). A fresh"
                    " one refuses the ended sessions' incarnations while their tokens can be alive;"
                    f" beyond {limits.MAX_RETIRED_INCARNATIONS} of them, 409 restart_limit"
                ),
            },
            "incarnation": {"anyOf": [INCARNATION, {"type": "null"}]},  # null: none, as when absent
            "token_expiry_secs": {"anyOf": [TOKEN_EXPIRY, {"type": "null"}]},
        },
        closed=False,
    ),
)

MINT = operation(
    "Mint a function token, or a batch, for an active session",
    {
        201: (
            "minted",
            {
                "oneOf": [
                    _object(
                        ["call_id", "token", "expires_at"],
                        {"call_id": CALL_ID, "token": TOKEN, "expires_at": EXPIRES_AT},
                    ),
                    _object(
                        ["call_id", "tokens", "expires_at"],
                        {
                            "call_id": CALL_ID,
                            "tokens": _TOKENS,
                            "expires_at": EXPIRES_AT,
                        },
                    ),
                ]
            },
        )
    },
    (400, 404, 409),
    body={
        "type": "object",
        "properties": {"token_expiry_secs": {"anyOf": [TOKEN_EXPIRY, {"type": "null"}]}},  # null: the default
        "oneOf": [
            {"required": ["function"], "properties": {"function": FUNCTION}},
            {
                "required": ["functions"],
                "properties": {"functions": _FUNCTIONS},
            },
        ],
    },
)

VALIDATE = operation(
    "Check a SWAIG function token (an invalid token is 200 with valid=false)",
    {200: ("the verdict", _object(["valid"], {"valid": {"type": "boolean"}, "reason": {"enum": REASONS}}))},
    (400,),
    body=_object(
        ["call_id", "function", "token"], {"call_id": CALL_ID, "function": FUNCTION, "token": TOKEN}, closed=False
    ),
)

_NULLABLE_INT = {"type": ["integer", "null"]}
DEBUG = operation(
    "The SDK's debug_token view of a token (403 unless the stack runs with DebugMode=true)",
    {
        200: (
            "what the token holds; the signature is never checked",
            {
                "oneOf": [
                    _object(
                        ["valid_format", "components", "status"],
                        {
                            "valid_format": {"const": True},
                            "components": _object(
                                ["call_id", "function", "expiry", "expiry_date", "nonce", "signature"],
                                {
                                    "call_id": {"type": "string"},
                                    "function": {"type": "string"},
                                    "expiry": {"type": "string"},
                                    "expiry_date": {"type": ["string", "null"]},
                                    "nonce": {"type": "string"},
                                    "signature": {"type": "string"},
                                },
                            ),
                            "status": _object(
                                ["current_time", "is_expired", "expires_in_seconds"],
                                {
                                    "current_time": {"type": "integer"},
                                    "is_expired": {"type": ["boolean", "null"]},
                                    "expires_in_seconds": _NULLABLE_INT,
                                },
                            ),
                        },
                    ),
                    _object(
                        ["valid_format", "parts_count", "token_length"],
                        {
                            "valid_format": {"const": False},
                            "parts_count": {"type": "integer"},
                            "token_length": {"type": "integer"},
                        },
                    ),
                    _object(
                        ["valid_format", "error", "token_length"],
                        {
                            "valid_format": {"const": False},
                            "error": {"type": "string"},
                            "token_length": {"type": "integer"},
                        },
                    ),
                ]
            },
        )
    },
    (400, 403),
    body=_object(["token"], {"token": TOKEN}, closed=False),
)

GET_METADATA = operation(
    "A session's metadata ({} when there is none)", {200: ("the metadata", _METADATA_REPLY)}, (400, 404)
)

MERGE_METADATA = operation(
    "Merge keys into a session's metadata (starting the session if there is none); refreshes its expiry",
    {200: ("the merged metadata", _METADATA_REPLY)},
    (400, 404, 409, 413),
    body={
        "type": "object",
        "anyOf": [
            {
                "required": ["metadata"],
                "not": {"anyOf": [{"required": ["key"]}, {"required": ["value"]}]},
                "properties": {"metadata": METADATA},
            },
            {"required": ["key", "value"], "not": {"required": ["metadata"]}, "properties": {"key": METADATA_KEY}},
        ],
    },
)

DELETE_METADATA = operation(
    "Empty a session's metadata",
    {200: ("whether there was any", _object(["deleted"], {"deleted": {"type": "boolean"}}))},
    (400, 404),
)

END = operation(
    "End a session: its metadata is removed; with RevocationCheck=true its tokens stop validating",
    {200: ("whether it was active", _object(["ended"], {"ended": {"type": "boolean"}}))},
    (400, 404),
)
