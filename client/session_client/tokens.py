"""What the service answers before it looks at a token: the 400 code an input would get.

The client's in-process check is the service's own (session_rules.tokens.verify); this module
only adds the input codes (session_rules.codes.INPUT_CODES), reported as the reason, as the SDK
answers False to those inputs.

The SDK's `SessionManager.validate_token` is not used: its decoder accepts non-canonical
base64 yet cannot read unpadded tokens, it holds one key (the service also accepts the key
before the last rotation), it checks no field's shape, and it gives no reason.
"""

from __future__ import annotations

from session_rules import limits
from session_rules.codes import ErrorCode

# check_token's answer: the named tuple (valid, reason) the service's own check returns, one type for
# the local and the remote verdict.
from session_rules.tokens import Verdict as TokenCheck

__all__ = ["TokenCheck", "input_error"]


def input_error(call_id: object, function: object, token: object) -> ErrorCode | None:
    """The code the service's 400 would carry for these inputs, or None when they are acceptable."""
    if any(isinstance(value, str) and not _is_unicode(value) for value in (call_id, function, token)):
        # A lone surrogate travels as a JSON escape, and the service refuses such a body whole.
        return ErrorCode.INVALID_JSON
    if not limits.is_call_id(call_id):
        return ErrorCode.INVALID_CALL_ID
    if not limits.is_function_name(function):
        return ErrorCode.INVALID_FUNCTION
    if not limits.is_token_text(token):
        return ErrorCode.INVALID_TOKEN
    return None


def _is_unicode(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
