"""The client's errors: `SessionServiceError` and the few kinds of it a caller acts on.

Every error carries `code`, `status` and `unsent`, and is made by `service_error(code, message,
status)`, the one place that tells its kind from the status and code:

- `InvalidInput`: the request's input was refused (400, or 413 for too much metadata), by the
  service or here before any request, as the service would refuse it;
- `AccessDenied`: 403, API Gateway's (an unsigned or wrongly signed request) or the service's;
- `SessionNotFound`: 404 `session_not_found`, the session is unknown or has expired;
- `SessionEnded`: 409 `session_ended`, or a restart the service will not make
  (`incarnation_retired`, `restart_limit`): the call is over;
- `ServiceUnavailable`: no verdict could be had: no answer (`unreachable`, `deadline_exceeded`),
  failing fast (`circuit_open`), a 5xx or a 429, the signing secret not read (`keys_unavailable`),
  or queued writes not sent in time (`writes_pending`);
- `InvalidResponse`: an answer that is not the service's (`invalid_response`, or a redirect).

Anything else (a 404 for no such route, a 409 `incarnation_limit`) is a plain `SessionServiceError`.
"""

from __future__ import annotations

from enum import StrEnum

from session_rules.codes import ErrorCode


class ClientCode(StrEnum):
    """The codes the client gives to failures the service did not answer with (the service's are
    `session_rules.codes.ErrorCode`; API Gateway's own answers are `GatewayCode`s)."""

    UNREACHABLE = "unreachable"  # the request got no answer
    DEADLINE_EXCEEDED = "deadline_exceeded"  # no answer before the call's deadline
    CIRCUIT_OPEN = "circuit_open"  # failing fast after consecutive failures
    INVALID_RESPONSE = "invalid_response"  # an answer that is not the service's
    KEYS_UNAVAILABLE = "keys_unavailable"  # the signing secret could not be read yet
    WRITES_PENDING = "writes_pending"  # the call's queued writes were not sent in time


class GatewayCode(StrEnum):
    """The codes the client gives API Gateway's own answers, whose body is only {"message": ...}: so
    that, say, its 404 (no such route) is never taken for the service's 404 session_not_found. A
    status not named here is `gateway_<status>`."""

    FORBIDDEN = "gateway_forbidden"  # 403: a missing or wrong signature, or no permission
    NOT_FOUND = "gateway_not_found"  # 404: no such route
    REQUEST_TOO_LARGE = "gateway_request_too_large"  # 413
    THROTTLED = "gateway_throttled"  # 429
    INTERNAL_ERROR = "gateway_internal_error"  # 500: the function crashed or timed out
    UNAVAILABLE = "gateway_unavailable"  # 503
    TIMEOUT = "gateway_timeout"  # 504


class SessionServiceError(Exception):
    """The service answered with an error, or could not be reached.

    `status` is the HTTP status (None when no answer came back; 400 for an input refused here
    before any request, as the service would refuse it), `code` the service's stable error code
    (an `ErrorCode`: `session_not_found`, `session_ended`, `invalid_call_id`, ...), a
    `ClientCode` when the client failed without the service's word (`unreachable`, ...),
    `gateway_<what>` when API Gateway answered itself (`gateway_not_found`, `gateway_forbidden`,
    `gateway_unavailable`, ...), `http_<status>` when the body said nothing else. Codes are
    strings: `exc.code == "session_ended"` holds as `exc.code == ErrorCode.SESSION_ENDED` does.

    `unsent` is True when the request is known never to have reached the service (refused here,
    failed fast, or its connection never made); False when it may have, answer or not.
    """

    def __init__(self, code: str, message: str, status: int | None = None, *, unsent: bool = False) -> None:
        super().__init__(f"{code}: {message}" if status is None else f"{status} {code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.unsent = unsent


class InvalidInput(SessionServiceError):
    """The request's input was refused (400, or 413): sending it again would not change that."""


class AccessDenied(SessionServiceError):
    """403: the gateway refused the request's signature or permissions, or the service the action."""


class SessionNotFound(SessionServiceError):
    """404 `session_not_found`: no session under the call id (never started, or expired)."""


class SessionEnded(SessionServiceError):
    """409: the session was ended, or the service will not start it again under this incarnation."""


class ServiceUnavailable(SessionServiceError):
    """No verdict could be had (no answer, a 5xx, throttled, failing fast): perhaps later."""


class InvalidResponse(SessionServiceError):
    """An answer that is not the service's (a wrong base_url, a proxy's page): nothing read from it."""


# The 409s that say the call is over: its session ended, or a restart the service will not make.
_ENDED = frozenset({ErrorCode.SESSION_ENDED, ErrorCode.INCARNATION_RETIRED, ErrorCode.RESTART_LIMIT})


def _kind(code: str, status: int | None) -> type[SessionServiceError]:
    if code == ClientCode.INVALID_RESPONSE or (status is not None and status < 400):
        return InvalidResponse  # a 2xx the client cannot read, or a redirect (the service never sends one)
    if status is None or status == 429 or status >= 500:
        return ServiceUnavailable
    if status in (400, 413):
        return InvalidInput
    if status == 403:
        return AccessDenied
    if (status, code) == (404, ErrorCode.SESSION_NOT_FOUND):
        return SessionNotFound
    if status == 409 and code in _ENDED:
        return SessionEnded
    return SessionServiceError


def service_error(code: str, message: str, status: int | None = None, *, unsent: bool = False) -> SessionServiceError:
    """The error for a failure with this code and status, of the kind they make it."""
    return _kind(code, status)(code, message, status, unsent=unsent)


def refused_here(code: str, message: str, status: int = 400) -> SessionServiceError:
    """The error for a request refused here, before it is sent, as the service would refuse it."""
    return service_error(code, message, status, unsent=True)
