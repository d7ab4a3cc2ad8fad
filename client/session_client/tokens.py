"""What the service answers before it looks at a token: the 400 code an input would get.

The client's in-process check is the service's own (session_rules.tokens.verify); this module
only adds the input codes, reported as the reason, as the SDK answers False to those inputs.

The SDK's `SessionManager.validate_token` is not used: its decoder accepts non-canonical
base64 yet cannot read unpadded tokens, it holds one key (the service also accepts the key
before the last rotation), it checks no field's shape, and it gives no reason.
"""

from __future__ import annotations

from session_rules import limits

# check_token's answer: the named tuple (valid, reason) the service's own check returns, one type for
# the local and the remote verdict.
from session_rules.tokens import Verdict as TokenCheck

__all__ = ["INPUT_CODES", "TokenCheck", "input_error"]

# The codes of the service's 400 answers to POST /tokens/validate: verdicts, not failures.
INPUT_CODES = frozenset(
    {"invalid_json", "invalid_body", "missing_field", "invalid_call_id", "invalid_function", "invalid_token"}
)


def input_error(call_id: object, function: object, token: object) -> str | None:
    """The code the service's 400 would carry for these inputs, or None when they are acceptable."""
    if any(isinstance(value, str) and not _is_unicode(value) for value in (call_id, function, token)):
        # A lone surrogate travels as a JSON escape, and the service refuses such a body whole.
        return "invalid_json"
    if not limits.is_call_id(call_id):
        return "invalid_call_id"
    if not limits.is_function_name(function):
        return "invalid_function"
    if not limits.is_token_text(token):
        return "invalid_token"
    return None


def _is_unicode(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
