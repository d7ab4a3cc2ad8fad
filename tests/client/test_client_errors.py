"""The client's errors: the kind each (status, code) makes; every kind a SessionServiceError with both."""

from __future__ import annotations

import pytest
from session_client import (
    AccessDenied,
    InvalidInput,
    InvalidResponse,
    ServiceUnavailable,
    SessionEnded,
    SessionNotFound,
    SessionServiceError,
)
from session_client.errors import ClientCode, service_error
from session_rules.codes import ErrorCode


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        (ErrorCode.INVALID_CALL_ID, 400, InvalidInput),
        (ErrorCode.METADATA_TOO_LARGE, 413, InvalidInput),
        ("gateway_request_too_large", 413, InvalidInput),
        ("gateway_forbidden", 403, AccessDenied),
        (ErrorCode.DEBUG_DISABLED, 403, AccessDenied),
        (ErrorCode.SESSION_NOT_FOUND, 404, SessionNotFound),
        ("gateway_not_found", 404, SessionServiceError),  # no such route: never the session's 404
        (ErrorCode.NOT_FOUND, 404, SessionServiceError),  # the service's own word for no such route
        (ErrorCode.SESSION_ENDED, 409, SessionEnded),
        (ErrorCode.INCARNATION_RETIRED, 409, SessionEnded),
        (ErrorCode.RESTART_LIMIT, 409, SessionEnded),
        (ErrorCode.INCARNATION_LIMIT, 409, SessionServiceError),  # the call goes on
        ("gateway_throttled", 429, ServiceUnavailable),
        (ErrorCode.INTERNAL_ERROR, 500, ServiceUnavailable),
        (ErrorCode.SERVICE_UNAVAILABLE, 503, ServiceUnavailable),
        (ErrorCode.SESSION_BUSY, 503, ServiceUnavailable),
        (ErrorCode.MISCONFIGURED, 500, ServiceUnavailable),
        (ClientCode.WRITES_PENDING, None, ServiceUnavailable),
        ("gateway_timeout", 504, ServiceUnavailable),
        (ClientCode.UNREACHABLE, None, ServiceUnavailable),
        (ClientCode.DEADLINE_EXCEEDED, None, ServiceUnavailable),
        (ClientCode.CIRCUIT_OPEN, None, ServiceUnavailable),
        (ClientCode.KEYS_UNAVAILABLE, None, ServiceUnavailable),
        (ClientCode.INVALID_RESPONSE, 200, InvalidResponse),
        (ClientCode.INVALID_RESPONSE, None, InvalidResponse),
        ("http_302", 302, InvalidResponse),  # a redirect: the service never sends one
    ],
)
def test_each_status_and_code_makes_its_kind(code: str, status: int | None, kind: type[SessionServiceError]) -> None:
    error = service_error(code, "why", status, unsent=status is None)
    assert type(error) is kind and isinstance(error, SessionServiceError)
    assert (error.code, error.status, error.unsent, error.message) == (code, status, status is None, "why")


def test_a_code_compares_as_its_wire_text() -> None:
    error = service_error(ErrorCode.SESSION_ENDED, "ended", 409)
    assert error.code == "session_ended" and str(error) == "409 session_ended: ended"
    assert service_error("unreachable", "refused").code == ClientCode.UNREACHABLE
