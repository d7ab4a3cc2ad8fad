"""Which failures of DynamoDB or Secrets Manager a retry can cure, by botocore's own retry rules.

Throttling, timeouts, lost connections and AWS-side 5xx pass: the service answers 503 ("retry
shortly"). Anything else (AccessDenied, ResourceNotFound, ValidationException, a missing table
name that fails parameter validation, no credentials) is a misconfiguration no retry cures: the
service logs it as an error and answers 500, so clients stop retrying and alarms fire.
"""

from __future__ import annotations

from types import SimpleNamespace

from botocore.exceptions import BotoCoreError, ClientError
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker, TransientRetryableChecker

_CHECKERS = (TransientRetryableChecker(), ThrottledRetryableChecker())


def aws_error(exc: BaseException) -> BotoCoreError | ClientError | None:
    """The botocore error behind `exc` (itself, or the one it was raised from), if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, BotoCoreError | ClientError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def is_transient(exc: BaseException) -> bool:
    """True when the botocore error behind `exc` is one botocore's standard retry mode retries."""
    error = aws_error(exc)
    if error is None:
        return False
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        context = RetryContext(
            attempt_number=1,
            parsed_response=error.response,
            http_response=SimpleNamespace(status_code=status) if status else None,
        )
    else:
        context = RetryContext(attempt_number=1, caught_exception=error)
    return any(checker.is_retryable(context) for checker in _CHECKERS)


def describe(exc: BaseException) -> dict[str, str]:
    """Log fields naming the failure: the AWS error code where there is one, never a secret."""
    error = aws_error(exc) or exc
    fields = {"error": type(error).__name__, "detail": str(error)}
    if isinstance(error, ClientError):
        fields["code"] = str(error.response.get("Error", {}).get("Code", ""))
    return fields
