"""The one exception the client raises for a failed call to the session service."""

from __future__ import annotations


class SessionServiceError(Exception):
    """The service answered with an error, or could not be reached.

    `status` is the HTTP status (None when no answer came back; 400 for an input
    refused here before any request, as the service would refuse it), `code` the
    service's stable error code (`session_not_found`, `session_ended`,
    `invalid_call_id`, `service_unavailable`, ...), `gateway_<what>` when API
    Gateway answered itself (`gateway_not_found`, `gateway_forbidden`,
    `gateway_unavailable`, ...), `unreachable` when the request never got an
    answer, `http_<status>` when the body said nothing else.

    `unsent` is True when the request is known never to have reached the service (refused here,
    failed fast, or its connection never made); False when it may have, answer or not.
    """

    def __init__(self, code: str, message: str, status: int | None = None, *, unsent: bool = False) -> None:
        super().__init__(f"{code}: {message}" if status is None else f"{status} {code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.unsent = unsent
