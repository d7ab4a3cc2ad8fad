"""Every exception the core raises on purpose, in one place.

ServiceError and its subclasses are request failures: http.py maps each to its status and JSON
body. KeyUnavailable is a dependency failure (http.py answers it as it answers a botocore error);
RotationError fails a step of the signing key's rotation, which Secrets Manager then retries.
"""

from __future__ import annotations

from session_rules.codes import ErrorCode


class ServiceError(Exception):
    """An expected failure with an HTTP status, a stable code and a human sentence."""

    status = 400
    code: ErrorCode = ErrorCode.BAD_REQUEST
    message = "bad request"

    def __init__(self, message: str | None = None, code: ErrorCode | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.code = code or self.code


class BadRequest(ServiceError):
    status = 400


class SessionNotFound(ServiceError):
    status = 404
    code = ErrorCode.SESSION_NOT_FOUND
    message = "the session does not exist or has expired"


class SessionEnded(ServiceError):
    status = 409
    code = ErrorCode.SESSION_ENDED
    message = "the session was ended; create it again to start a new one"


class IncarnationLimit(ServiceError):
    """A session already accepts the most incarnations it may (session_rules.limits.MAX_INCARNATIONS)."""

    status = 409
    code = ErrorCode.INCARNATION_LIMIT
    message = "the session accepts no more incarnations"


class IncarnationRetired(ServiceError):
    """The incarnation belonged to an ended session of the call id whose tokens may still be alive."""

    status = 409
    code = ErrorCode.INCARNATION_RETIRED
    message = "the incarnation belonged to an ended session of this call id; pick a new one"


class RestartLimit(ServiceError):
    """A restart would retire more incarnations than a call id keeps (limits.MAX_RETIRED_INCARNATIONS)."""

    status = 409
    code = ErrorCode.RESTART_LIMIT
    message = "the call id was restarted too often while tokens of its ended sessions can still be alive"


class DebugDisabled(ServiceError):
    status = 403
    code = ErrorCode.DEBUG_DISABLED
    message = "debug mode not enabled"


class MetadataTooLarge(ServiceError):
    status = 413
    code = ErrorCode.METADATA_TOO_LARGE
    message = "the session's metadata would exceed 64 KiB serialized"


class SessionBusy(ServiceError):
    """A create or merge lost the race to other writers of the same session too many times in a row."""

    status = 503
    code = ErrorCode.SESSION_BUSY
    message = "the session changed under too many concurrent writers; retry shortly"


class Unavailable(ServiceError):
    status = 503
    code = ErrorCode.SERVICE_UNAVAILABLE
    message = "a dependency of the service is unavailable; retry shortly"


class Misconfigured(ServiceError):
    """A setting or a permission is wrong: no retry cures it, so it is a 500 and an error log."""

    status = 500
    code = ErrorCode.MISCONFIGURED
    message = "the service is misconfigured; the error was logged"


class KeyUnavailable(Exception):
    """The signing key could not be read and no earlier copy is cached.

    `stage` is the version stage that was asked for (AWSCURRENT or AWSPREVIOUS).
    """

    def __init__(self, stage: str) -> None:
        super().__init__(f"signing key {stage} unavailable")
        self.stage = stage


class RotationError(Exception):
    """The rotation cannot go on; Secrets Manager sees the failure and retries the step.

    `version` is the secret version (the rotation's ClientRequestToken) concerned, when known.
    """

    def __init__(self, message: str, version: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.version = version
