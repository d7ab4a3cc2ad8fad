"""SWAIG function tokens in the SignalWire SDK's wire format. Pure: no AWS, no I/O.

token = base64url("{call_id}.{function}.{expiry}.{nonce}.{signature}")
signature = hex(HMAC-SHA256(secret.encode(), "{call_id}:{function}:{expiry}:{nonce}"))
"""

from __future__ import annotations

import base64
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_TOKEN_LENGTH = 1024

# Reasons, in the order the SDK checks them.
MALFORMED = "malformed"
FUNCTION_MISMATCH = "function_mismatch"
EXPIRED = "expired"
BAD_SIGNATURE = "bad_signature"
CALL_ID_MISMATCH = "call_id_mismatch"
SESSION_ENDED = "session_ended"  # set by the service's revocation check, never here


@dataclass(frozen=True, slots=True)
class Verdict:
    valid: bool
    reason: str | None = None


VALID = Verdict(True)


def sign(key: bytes, call_id: str, function: str, expiry: str, nonce: str) -> str:
    message = f"{call_id}:{function}:{expiry}:{nonce}".encode()
    return hmac.digest(key, message, "sha256").hex()


def mint(key: bytes, call_id: str, function: str, expiry: int) -> str:
    """A token exactly as the Python SDK's generate_token makes it (padded base64url)."""
    nonce = secrets.token_hex(8)
    signature = sign(key, call_id, function, str(expiry), nonce)
    raw = f"{call_id}.{function}.{expiry}.{nonce}.{signature}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode(token: object) -> list[str] | None:
    """The five fields of a token, or None when it is not one.

    Strict where the SDK is lenient, so that every changed character is noticed:
    only the base64url alphabet, canonical encoding, padding absent or exact.
    """
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
        return None
    body = token.rstrip("=")
    padding = "=" * (-len(body) % 4)
    if token != body and token != body + padding:
        return None
    try:
        raw = base64.urlsafe_b64decode(body + padding)
        if base64.urlsafe_b64encode(raw).rstrip(b"=") != body.encode("ascii"):
            return None
        fields = raw.decode("utf-8").rsplit(".", 4)
    except ValueError:  # binascii.Error, UnicodeError: not base64url text
        return None
    return fields if len(fields) == 5 else None


def verify(keys: Sequence[bytes], call_id: str, function: str, token: object, now: float) -> Verdict:
    """Check a token as the SDK's validate_token does, saying why it fails. Never raises."""
    fields = decode(token)
    if fields is None:
        return Verdict(False, MALFORMED)
    token_call_id, token_function, expiry, nonce, signature = fields
    if not (expiry.isascii() and expiry.isdigit()) or not signature.isascii():
        return Verdict(False, MALFORMED)
    if not call_id:
        return Verdict(False, CALL_ID_MISMATCH)
    if token_function != function:
        return Verdict(False, FUNCTION_MISMATCH)
    if int(expiry) < now:
        return Verdict(False, EXPIRED)
    if not any(hmac.compare_digest(signature, sign(key, token_call_id, token_function, expiry, nonce)) for key in keys):
        return Verdict(False, BAD_SIGNATURE)
    if token_call_id != call_id:
        return Verdict(False, CALL_ID_MISMATCH)
    return VALID


def _shorten(value: str) -> str:
    return value[:8] + "..." if len(value) > 8 else value


def debug(token: object, now: float) -> dict[str, Any]:
    """The SDK's debug_token structure; never checks the signature, never raises."""
    length = len(token) if isinstance(token, str) else 0
    fields = decode(token)
    if fields is None:
        if isinstance(token, str) and len(token) <= MAX_TOKEN_LENGTH:
            parts = _loose_parts(token)
            if parts is not None:
                return {"valid_format": False, "parts_count": parts, "token_length": length}
        return {"valid_format": False, "error": "token is not base64url text", "token_length": length}
    call_id, function, expiry, nonce, signature = fields
    current_time = int(now)
    is_expired: bool | None = None
    expires_in: int | None = None
    expiry_date: str | None = None
    try:
        expiry_at = int(expiry)
        expiry_date = datetime.fromtimestamp(expiry_at).isoformat()
    except (ValueError, OverflowError, OSError):
        pass  # the SDK reports such an expiry as unknown
    else:
        is_expired = expiry_at < current_time
        expires_in = 0 if is_expired else expiry_at - current_time
    return {
        "valid_format": True,
        "components": {
            "call_id": _shorten(call_id),
            "function": function,
            "expiry": expiry,
            "expiry_date": expiry_date,
            "nonce": nonce,
            "signature": signature[:8] + "...",
        },
        "status": {"current_time": current_time, "is_expired": is_expired, "expires_in_seconds": expires_in},
    }


def _loose_parts(token: str) -> int | None:
    """How many dot-separated parts a decodable non-token has (the SDK's parts_count)."""
    try:
        body = token.rstrip("=")
        text = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")
    except ValueError:
        return None
    return len(text.rsplit(".", 4))
