"""Every input's alphabet and size, each defined once. Pure.

The service's request parsing, the token parse, the client's local checks and the OpenAPI
document all read them from here, so they cannot drift apart.
"""

from __future__ import annotations

import re
from typing import Any, TypeGuard

# A call id travels in URL paths. RFC 3986's unreserved characters are the ones percent-encoding
# leaves unchanged, so the id means the same session whether a path arrives encoded or decoded
# (API Gateway hands Lambda decoded paths). No '/', '?', '#' or '%' can address another route,
# and an id of dots alone would be collapsed as a dot segment by clients. No ':' either, which
# keeps the signed message `call_id:function:expiry:nonce` unambiguous. SignalWire's call ids
# (UUIDs) and the SDK's generated ones (secrets.token_urlsafe) fit.
MAX_CALL_ID_LENGTH = 128
CALL_ID_CHARS = "A-Za-z0-9._~-"
CALL_ID_PATTERN = rf"[{CALL_ID_CHARS}]*[A-Za-z0-9_~-][{CALL_ID_CHARS}]*"  # not only dots
CALL_ID_RULE = f"1-{MAX_CALL_ID_LENGTH} characters of A-Z a-z 0-9 . _ ~ -, not only dots"

MAX_FUNCTION_NAME_LENGTH = 64
FUNCTION_NAME_PATTERN = rf"[A-Za-z0-9_-]{{1,{MAX_FUNCTION_NAME_LENGTH}}}"
FUNCTION_NAME_RULE = f"1-{MAX_FUNCTION_NAME_LENGTH} characters of A-Z a-z 0-9 _ -"

MAX_TOKEN_LENGTH = 1024  # characters; the longest token the service mints is under 420
MAX_BATCH = 64  # function names per mint request
MAX_METADATA_KEY_LENGTH = 128  # characters
MAX_METADATA_BYTES = 64 * 1024  # a session's whole metadata, serialized as compact UTF-8 JSON

# The signing key, as the template's GenerateSecretString (PasswordLength 64, ExcludePunctuation) and
# the rotation (GetRandomPassword, the same) make it: about 381 bits, 64 bytes, twice HMAC-SHA256's
# 32 (RFC 2104's minimum for it), so a key under 32 bytes never has this shape. Nothing else is used
# to mint or check a token: a secret holding 'x' would let anyone forge every token.
SIGNING_KEY_LENGTH = 64
SIGNING_KEY_CHARS = "A-Za-z0-9"
SIGNING_KEY_RULE = f"{SIGNING_KEY_LENGTH} characters of A-Z a-z 0-9"

DEFAULT_TOKEN_EXPIRY_SECS = 900  # the SDK's default token lifetime
DEFAULT_MAX_TOKEN_LIFETIME_SECS = 24 * 3600  # validation refuses tokens expiring further ahead
MIN_TOKEN_LIFETIME_SECS = 1
TOKEN_LIFETIME_RULE = f"an integer of seconds, at least {MIN_TOKEN_LIFETIME_SECS}"  # and the stack's maximum

# A session's incarnation: the first characters of the 16-hex nonce of every token minted for it,
# which is how revocation tells a session's tokens from those of an ended one under the same call
# id. The service picks one at each start; a client holding the signing key picks its own, mints
# with it, and has the session accept it. A session accepts at most MAX_INCARNATIONS of them.
INCARNATION_LENGTH = 8
INCARNATION_PATTERN = f"[0-9a-f]{{{INCARNATION_LENGTH}}}"
INCARNATION_RULE = f"exactly {INCARNATION_LENGTH} lowercase hex characters"
MAX_INCARNATIONS = 16
# When an ended session is started over, its incarnations are retired: the fresh session refuses to
# accept them while tokens minted under them can live (until the ended session's expiry), so those
# tokens never become valid again. A call id holds at most this many retired ones (the incarnations
# of four full sessions); a restart that would retire more is refused.
MAX_RETIRED_INCARNATIONS = 4 * MAX_INCARNATIONS

_CALL_ID = re.compile(CALL_ID_PATTERN)
_FUNCTION_NAME = re.compile(FUNCTION_NAME_PATTERN)
_SIGNING_KEY = re.compile(f"[{SIGNING_KEY_CHARS}]{{{SIGNING_KEY_LENGTH}}}")
_INCARNATION = re.compile(INCARNATION_PATTERN)


def is_call_id(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) <= MAX_CALL_ID_LENGTH and _CALL_ID.fullmatch(value) is not None


def is_function_name(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and _FUNCTION_NAME.fullmatch(value) is not None


def is_token_text(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_TOKEN_LENGTH


def is_signing_key(value: Any) -> TypeGuard[str]:
    """The secret's text is a signing key of the rotation's shape (SIGNING_KEY_RULE)."""
    return isinstance(value, str) and _SIGNING_KEY.fullmatch(value) is not None


def is_incarnation(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and _INCARNATION.fullmatch(value) is not None


def is_token_lifetime(value: Any) -> TypeGuard[int]:
    """An integer of seconds, at least one (a bool is no integer here). The stack's
    MaxTokenLifetimeSecs bounds it too: that comparison is the caller's, who knows the setting."""
    return type(value) is int and value >= MIN_TOKEN_LIFETIME_SECS
