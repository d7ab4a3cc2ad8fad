"""SWAIG function tokens in the SignalWire SDK's wire format. Pure: no AWS, no I/O.

token = base64url("{call_id}.{function}.{expiry}.{nonce}.{signature}")
signature = hex(HMAC-SHA256(secret.encode(), "{call_id}:{function}:{expiry}:{nonce}"))
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_TOKEN_LENGTH = 1024

_IPAD = bytes(b ^ 0x36 for b in range(256))  # byte -> byte XOR 0x36, for bytes.translate
_OPAD = bytes(b ^ 0x5C for b in range(256))
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")

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


@functools.lru_cache(maxsize=8)
def _keyed(key: bytes) -> tuple[Any, Any]:
    """SHA-256 states after absorbing key XOR ipad / key XOR opad (RFC 2104), computed once per key.

    hmac.digest and hmac.new both redo the key schedule and OpenSSL's digest lookup on
    every call (~2 us); copying two ready states makes a signature ~0.8 us.
    """
    block = key if len(key) <= 64 else hashlib.sha256(key).digest()
    block = block.ljust(64, b"\0")
    return hashlib.sha256(block.translate(_IPAD)), hashlib.sha256(block.translate(_OPAD))


def sign(key: bytes, call_id: str, function: str, expiry: str, nonce: str) -> str:
    """hex(HMAC-SHA256(key, message)), identical to hmac.new(key, message, sha256).hexdigest()."""
    inner, outer = _keyed(key)
    inner = inner.copy()
    inner.update(f"{call_id}:{function}:{expiry}:{nonce}".encode())
    outer = outer.copy()
    outer.update(inner.digest())
    return str(outer.hexdigest())


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
    try:
        data = token.encode("ascii")
        # binascii directly (base64's wrappers cost more than the work). Lenient decode (extra
        # padding appended, so an unpadded token decodes too), then re-encode: only the canonical
        # text, padded or not, comes back the same, which rejects other characters, '+', '/',
        # partial padding and non-zero spare bits.
        raw = binascii.a2b_base64(data.translate(_FROM_URLSAFE) + b"==")
        canonical = binascii.b2a_base64(raw, newline=False).translate(_TO_URLSAFE)
        if data != canonical and data != canonical.rstrip(b"="):
            return None
        fields = raw.decode("utf-8").rsplit(".", 4)
    except ValueError:  # binascii.Error, UnicodeError: not base64url text
        return None
    return fields if len(fields) == 5 else None


def expiry(token: object) -> int | None:
    """The expiry a token carries (epoch seconds), or None when it is not a token."""
    fields = decode(token)
    return int(fields[2]) if fields is not None and fields[2].isascii() and fields[2].isdigit() else None


def verify(keys: Iterable[bytes], call_id: str, function: str, token: object, now: float) -> Verdict:
    """Check a token as the SDK's validate_token does, saying why it fails. Never raises.

    `keys` is read only when the signature is checked, and only until one matches, so a
    lazy iterable (KeyRing.candidates) fetches a rarely needed key only when it is needed.
    """
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
    for key in keys:  # a plain loop: any() over a generator costs a third of a microsecond more
        if hmac.compare_digest(signature, sign(key, token_call_id, token_function, expiry, nonce)):
            break
    else:
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
            if parts is not None and parts != 5:  # five loose parts: a non-canonical token, not a short one
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
