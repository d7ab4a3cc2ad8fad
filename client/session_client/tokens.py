"""In-process token check, identical in verdict and reason to the service's POST /tokens/validate.

Implemented here (about thirty lines) rather than delegated to signalwire's
`SessionManager.validate_token`, for three reasons:

* the verdicts would differ: the SDK's decoder is lenient (it accepts
  non-canonical base64) yet cannot read unpadded tokens, while the service
  decodes strictly and accepts padded and unpadded tokens alike;
* the service also accepts tokens signed with the key before the last rotation
  (Secrets Manager's AWSPREVIOUS), which the SDK's single `secret_key` cannot;
* the client must install alone (botocore + requests), and the SDK gives no reason.

The rules restate the service's: its input checks (which it answers with a
400, reported here as the same code) and then the SDK's order of checks.
Tests prove equal verdicts against the running service on a corpus of tokens.
"""

from __future__ import annotations

import base64
import hmac
import re
from collections.abc import Sequence
from typing import NamedTuple

MAX_TOKEN_LENGTH = 1024
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class TokenCheck(NamedTuple):
    """A verdict: `valid`, and why not (`malformed`, `function_mismatch`, `expired`, `bad_signature`,
    `call_id_mismatch`, `session_ended`, or the 400 code of an input the service refuses)."""

    valid: bool
    reason: str | None = None


def input_error(call_id: object, function: object, token: object) -> str | None:
    """The code the service's 400 would carry for these inputs, or None when they are acceptable."""
    if any(isinstance(value, str) and not _is_unicode(value) for value in (call_id, function, token)):
        # A lone surrogate travels as a JSON escape, and the service refuses such a body whole.
        return "invalid_json"
    if (
        not isinstance(call_id, str)
        or not 1 <= len(call_id) <= 128
        or not call_id.isprintable()
        or any(c.isspace() for c in call_id)
    ):
        return "invalid_call_id"
    if not isinstance(function, str) or not _FUNCTION_NAME.fullmatch(function):
        return "invalid_function"
    if not isinstance(token, str) or not 1 <= len(token) <= MAX_TOKEN_LENGTH:
        return "invalid_token"
    return None


def _is_unicode(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _fields(token: str) -> list[str] | None:
    """The five fields of a canonical base64url token (padding optional), else None."""
    body = token.rstrip("=")
    if token not in (body, body + "=" * (-len(body) % 4)):
        return None
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        if base64.urlsafe_b64encode(raw).rstrip(b"=") != body.encode("ascii"):
            return None
        fields = raw.decode("utf-8").rsplit(".", 4)
    except ValueError:  # binascii.Error and UnicodeError: not base64url text
        return None
    return fields if len(fields) == 5 else None


def verify(keys: Sequence[bytes], call_id: object, function: object, token: object, now: float) -> TokenCheck:
    """Check a token against any of `keys` (current first). Never raises."""
    if code := input_error(call_id, function, token):
        return TokenCheck(False, code)
    fields = _fields(str(token))
    if fields is None:
        return TokenCheck(False, "malformed")
    token_call_id, token_function, expiry, nonce, signature = fields
    if not (expiry.isascii() and expiry.isdigit()) or not signature.isascii():
        return TokenCheck(False, "malformed")
    if token_function != function:
        return TokenCheck(False, "function_mismatch")
    if int(expiry) < now:
        return TokenCheck(False, "expired")
    message = f"{token_call_id}:{token_function}:{expiry}:{nonce}".encode()
    if not any(hmac.compare_digest(signature, hmac.digest(key, message, "sha256").hex()) for key in keys):
        return TokenCheck(False, "bad_signature")
    if token_call_id != call_id:
        return TokenCheck(False, "call_id_mismatch")
    return TokenCheck(True)
