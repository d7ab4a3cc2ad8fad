"""SWAIG function tokens in the SignalWire SDKs' wire format. Pure: no AWS, no I/O.

token     = base64url("{call_id}.{function}.{expiry}.{nonce}.{signature}"), padded (Python SDK) or not (TypeScript)
signature = hex(HMAC-SHA256(secret, "{call_id}:{function}:{expiry}:{nonce}"))

The parse is unambiguous by construction: a call id holds no ':' (limits.CALL_ID_PATTERN) and
no other field holds '.' or ':' (a function name, canonical decimal expiry, 16 or 32 lowercase
hex nonce, 64 lowercase hex signature). A token whose fields have any other shape is malformed,
so no signed message can be re-cut into a token for another call, function or expiry.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from . import limits
from .codes import Reason

NONCE_LENGTH = 16  # hex characters, as the Python SDK mints (secrets.token_hex(8))
# A whole token's decoded text, each field in the shape we and the SDKs mint, matched in one pass:
# the call id (limits: no ':'; dots allowed, but no other field has one, so the match is unique),
# the function name, a canonical decimal expiry (as str(int) writes it), a nonce of 16 (Python SDK
# and ours) or 32 (TypeScript SDK) lowercase hex characters, a 64-hex signature (hexdigest()).
# Matched on ASCII text only, so no other character can pass for a digit or a letter; the call id
# is matched lazily, since most have no dot.
_TOKEN = re.compile(
    rf"([{limits.CALL_ID_CHARS}]{{1,{limits.MAX_CALL_ID_LENGTH}}}?)\.({limits.FUNCTION_NAME_PATTERN})"
    r"\.(0|[1-9][0-9]{0,15})\.([0-9a-f]{16}|[0-9a-f]{32})\.([0-9a-f]{64})"
)
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_FROM_URLSAFE = bytes.maketrans(b"-_+/", b"+/!!")
_SIXBITS = bytes(_ALPHABET.index(c) if c in _ALPHABET else 0 for c in range(256))  # a character's 6-bit value


class Verdict(NamedTuple):
    """Whether a token is valid, and why not (a codes.Reason, or a request's 400 code)."""

    valid: bool
    reason: str | None = None


VALID = Verdict(True)


class Fields(NamedTuple):
    call_id: str
    function: str
    expiry: str
    nonce: str
    signature: str


@functools.lru_cache(maxsize=8)
def _mac(key: bytes) -> hmac.HMAC:
    """An HMAC keyed once per key; sign() copies it instead of redoing the key schedule per message."""
    return hmac.new(key, digestmod=hashlib.sha256)


def sign(key: bytes, call_id: str, function: str, expiry: str, nonce: str) -> str:
    mac = _mac(key).copy()
    mac.update(f"{call_id}:{function}:{expiry}:{nonce}".encode())
    return mac.hexdigest()


def new_nonce(prefix: str = "") -> str:
    """A 16-hex-character nonce: `prefix` (lowercase hex) followed by random hex."""
    return prefix + secrets.token_hex((NONCE_LENGTH - len(prefix)) // 2)


def mint(key: bytes, call_id: str, function: str, expiry: int, nonce: str | None = None) -> str:
    """A token exactly as the Python SDK's generate_token makes it (padded base64url)."""
    nonce = nonce or new_nonce()
    signature = sign(key, call_id, function, str(expiry), nonce)
    raw = f"{call_id}.{function}.{expiry}.{nonce}.{signature}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _raw(token: object) -> bytes | None:
    """The bytes a token encodes, or None unless it is canonical base64url, padded or not.

    Strict where the SDK is lenient, so that every changed character is noticed: only the
    base64url alphabet, padding absent or exact, and no second spelling of the same bytes
    (a final character whose unused low bits are set).
    """
    if not limits.is_token_text(token) or not token.isascii():
        return None
    data = token.encode("ascii")
    body = data.rstrip(b"=")
    pad = -len(body) % 4
    if pad == 3 or len(data) not in (len(body), len(body) + pad):
        return None
    if pad and _SIXBITS[body[-1]] & (0x0F if pad == 2 else 0x03):
        return None
    try:  # '+' and '/' are translated to '!', which strict mode refuses like any other stray byte
        return binascii.a2b_base64(body.translate(_FROM_URLSAFE) + b"=" * pad, strict_mode=True)
    except binascii.Error:
        return None


def decode(token: object) -> list[str] | None:
    """The five dot-separated texts of a token, whatever their shape, or None when it is not one."""
    raw = _raw(token)
    if raw is None:
        return None
    try:
        fields = raw.decode("utf-8").rsplit(".", 4)
    except UnicodeError:
        return None
    return fields if len(fields) == 5 else None


def _fields(token: object) -> tuple[str, ...] | None:
    """parse() as a plain tuple: verify's hot path builds no Fields."""
    raw = _raw(token)
    if raw is None:
        return None
    try:
        found = _TOKEN.fullmatch(raw.decode("ascii"))
    except UnicodeDecodeError:
        return None
    if found is None or not found[1].strip("."):  # a call id of dots alone is no call id
        return None
    return found.groups()


def parse(token: object) -> Fields | None:
    """A token's fields when each has the shape we and the SDKs mint, else None."""
    fields = _fields(token)
    return None if fields is None else Fields._make(fields)


def verify(
    keys: Iterable[bytes],
    call_id: str,
    function: str,
    token: object,
    now: float,
    max_lifetime: int = limits.DEFAULT_MAX_TOKEN_LIFETIME_SECS,
) -> Verdict:
    """Check a token as the SDK's validate_token does, saying why it fails. Never raises.

    Also refuses an expiry more than `max_lifetime` seconds ahead: nothing we or the SDKs
    mint lives that long, so such a token is a forgery or a misconfigured signer.
    `keys` is read only when the signature is checked, and only until one matches, so a
    lazy iterable (KeyRing.candidates) fetches a rarely needed key only when it is needed.
    """
    return verify_fields(keys, call_id, function, _fields(token), now, max_lifetime)


def verify_fields(
    keys: Iterable[bytes],
    call_id: str,
    function: str,
    fields: tuple[str, ...] | None,
    now: float,
    max_lifetime: int = limits.DEFAULT_MAX_TOKEN_LIFETIME_SECS,
) -> Verdict:
    """verify() on the fields parse() read (None: the token did not parse), for a caller that reads them too."""
    if fields is None:
        return Verdict(False, Reason.MALFORMED)
    token_call_id, token_function, expiry_text, nonce, signature = fields
    if not call_id:
        return Verdict(False, Reason.CALL_ID_MISMATCH)
    if token_function != function:
        return Verdict(False, Reason.FUNCTION_MISMATCH)
    expiry = int(expiry_text)
    if expiry < now:
        return Verdict(False, Reason.EXPIRED)
    if expiry > now + max_lifetime:
        return Verdict(False, Reason.LIFETIME_EXCEEDED)
    for key in keys:
        if hmac.compare_digest(signature, sign(key, token_call_id, token_function, expiry_text, nonce)):
            break
    else:
        return Verdict(False, Reason.BAD_SIGNATURE)
    if token_call_id != call_id:
        return Verdict(False, Reason.CALL_ID_MISMATCH)
    return VALID


def _shorten(value: str) -> str:
    return value[:8] + "..." if len(value) > 8 else value


def debug(token: object, now: float) -> dict[str, Any]:
    """The SDK's debug_token structure; never checks the signature, never raises."""
    length = len(token) if isinstance(token, str) else 0
    fields = decode(token)
    if fields is None:
        if isinstance(token, str) and len(token) <= limits.MAX_TOKEN_LENGTH:
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
