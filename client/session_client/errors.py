"""The one exception the client raises for a failed call to the session service."""

from __future__ import annotations


class SessionServiceError(Exception):
    """The service answered with an error, or could not be reached.

    `status` is the HTTP status (None when no answer came back), `code` the
    service's stable error code (`session_not_found`, `invalid_call_id`,
    `service_unavailable`, ...; `unreachable` when the request never got an
    answer, `http_<status>` when the body held no code, e.g. API Gateway's 403).
    """

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}" if status is None else f"{status} {code}: {message}")
        self.code = code
        self.message = message
        self.status = status
