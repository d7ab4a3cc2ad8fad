"""In-process token check, identical in verdict and reason to the service's POST /tokens/validate.

The token format and every input rule come from session_rules, the one copy the service uses
too; this module only adds what the service answers before a token is looked at: the 400 code
an input would get (reported here as the reason, as the SDK answers False to those).

The SDK's `SessionManager.validate_token` is not used: its decoder accepts non-canonical
base64 yet cannot read unpadded tokens, it holds one key (the service also accepts the key
before the last rotation), it checks no field's shape, and it gives no reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from session_rules import limits, tokens
from session_rules.tokens import Verdict as TokenCheck

__all__ = ["TokenCheck", "input_error", "verify"]


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


def verify(
    keys: Iterable[bytes],
    call_id: object,
    function: object,
    token: object,
    now: float,
    max_lifetime: int = limits.DEFAULT_MAX_TOKEN_LIFETIME_SECS,
) -> TokenCheck:
    """Check a token against any of `keys` (current first). Never raises."""
    if code := input_error(call_id, function, token):
        return TokenCheck(False, code)
    return tokens.verify(keys, cast(str, call_id), cast(str, function), token, now, max_lifetime)
