"""The service's answers as names both sides import: every error code and every refusal reason.

A `StrEnum` member is its own wire text (`ErrorCode.SESSION_ENDED == "session_ended"`), so the
service writes these into its JSON bodies and the client compares what it reads against the same
members; neither side spells a code as a string of its own.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """The `code` of an error body. The status each one comes with is the service's (session_core.errors)."""

    # 400: the request's input, refused before anything is read or written
    BAD_REQUEST = "bad_request"
    INVALID_JSON = "invalid_json"
    INVALID_BODY = "invalid_body"
    MISSING_FIELD = "missing_field"
    INVALID_CALL_ID = "invalid_call_id"
    INVALID_FUNCTION = "invalid_function"
    INVALID_TOKEN = "invalid_token"
    INVALID_METADATA = "invalid_metadata"
    INVALID_INCARNATION = "invalid_incarnation"
    INVALID_TOKEN_EXPIRY = "invalid_token_expiry"
    LIFETIME_EXCEEDED = "lifetime_exceeded"
    # 403 / 404 / 409 / 413: the session's state
    DEBUG_DISABLED = "debug_disabled"
    NOT_FOUND = "not_found"  # no such route
    SESSION_NOT_FOUND = "session_not_found"
    SESSION_ENDED = "session_ended"
    INCARNATION_LIMIT = "incarnation_limit"
    INCARNATION_RETIRED = "incarnation_retired"
    RESTART_LIMIT = "restart_limit"
    METADATA_TOO_LARGE = "metadata_too_large"
    # 500 / 503: the service or a dependency
    INTERNAL_ERROR = "internal_error"
    MISCONFIGURED = "misconfigured"
    SESSION_BUSY = "session_busy"
    SERVICE_UNAVAILABLE = "service_unavailable"


# The 400s that are a verdict on the input itself: a token check given one of these answers False, as
# the SDK does for input it cannot read, rather than raising.
INPUT_CODES = frozenset(
    {
        ErrorCode.INVALID_JSON,
        ErrorCode.INVALID_BODY,
        ErrorCode.MISSING_FIELD,
        ErrorCode.INVALID_CALL_ID,
        ErrorCode.INVALID_FUNCTION,
        ErrorCode.INVALID_TOKEN,
    }
)


class Reason(StrEnum):
    """Why a token is refused, in the order the SDK checks (LIFETIME_EXCEEDED is ours, beside EXPIRED)."""

    MALFORMED = "malformed"
    FUNCTION_MISMATCH = "function_mismatch"
    EXPIRED = "expired"
    LIFETIME_EXCEEDED = "lifetime_exceeded"
    BAD_SIGNATURE = "bad_signature"
    CALL_ID_MISMATCH = "call_id_mismatch"
    SESSION_ENDED = "session_ended"  # the service's revocation check, never a token's own parse


# The SDK's debug_token answers {"error": DEBUG_DISABLED_MESSAGE} when debug mode is off; the service's
# 403 debug_disabled says the same words, so a client hands the SDK's answer back either way.
DEBUG_DISABLED_MESSAGE = "debug mode not enabled"
