"""session_rules.limits at each boundary: the call id, the token text, the signing key."""

from __future__ import annotations

import string

import pytest
from session_rules import limits


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("a", True),
        ("a" * limits.MAX_CALL_ID_LENGTH, True),
        ("a" * (limits.MAX_CALL_ID_LENGTH + 1), False),
        ("." * 5 + "a", True),
        ("...", False),
        ("", False),
        ("a\n", False),  # a whole-string match: `$` would allow a final newline
        (None, False),
        (b"abc", False),
    ],
)
def test_call_id(value: object, ok: bool) -> None:
    assert limits.is_call_id(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("", False),
        ("t", True),
        ("t" * limits.MAX_TOKEN_LENGTH, True),
        ("t" * (limits.MAX_TOKEN_LENGTH + 1), False),
        (None, False),
        (b"t", False),
    ],
)
def test_token_text(value: object, ok: bool) -> None:
    assert limits.is_token_text(value) is ok


KEY = (string.ascii_letters + string.digits + "ab")[: limits.SIGNING_KEY_LENGTH]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (KEY, True),
        ("0" * 64, True),
        (KEY[:-1], False),
        (KEY + "a", False),
        (KEY[:32], False),  # 32 bytes: long enough for HMAC, not the rotation's shape
        ("x", False),
        ("", False),
        (KEY[:-1] + "-", False),  # base64url's alphabet is not the key's
        (KEY[:-1] + "_", False),
        (KEY[:-1] + "=", False),
        (KEY[:-1] + " ", False),
        (KEY + "\n", False),
        ("é" * 64, False),
        ("\u0661" * 64, False),  # ARABIC-INDIC DIGIT ONE: a Unicode digit, not 0-9
        (KEY.encode(), False),  # bytes, not the secret's text
        (None, False),
    ],
)
def test_signing_key(value: object, ok: bool) -> None:
    assert limits.is_signing_key(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("0123abcd", True),
        ("00000000", True),
        ("0123abc", False),
        ("0123abcde", False),
        ("0123ABCD", False),  # lowercase only: the nonce is lowercase hex
        ("0123abcg", False),
        ("0123abcd\n", False),
        ("", False),
        (None, False),
        (0x0123ABCD, False),
        (b"0123abcd", False),
    ],
)
def test_incarnation(value: object, ok: bool) -> None:
    assert limits.is_incarnation(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (1, True),
        (limits.MIN_TOKEN_LIFETIME_SECS, True),
        (900, True),
        (10**12, True),  # the stack's maximum is the caller's to compare
        (0, False),
        (-1, False),
        (True, False),  # a bool is no integer here
        (1.0, False),
        (900.0, False),
        ("900", False),
        (None, False),
    ],
)
def test_token_lifetime(value: object, ok: bool) -> None:
    assert limits.is_token_lifetime(value) is ok
