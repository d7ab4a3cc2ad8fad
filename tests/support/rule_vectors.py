"""Token and input-rule vectors from the service's own rules (session_rules), for the TypeScript client's tests.

The TypeScript client mirrors `session_rules.tokens` and `session_rules.limits`; its tests check it
against these answers, computed here by the Python code the service runs, so the two cannot drift.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

from session_client.tokens import input_error
from session_rules import limits, tokens

KEY = "k" * 32 + "K" * 32  # of the rotation's shape: 64 letters and digits
OTHER_KEY = "0123456789" * 6 + "abcd"
NOW = 1_800_000_000.25  # a fixed clock, fractional as time.time() is
MAX_LIFETIME = limits.DEFAULT_MAX_TOKEN_LIFETIME_SECS
NONCE = "0123abcd" + "89abcdef"
TS_NONCE = "f" * 32  # the TypeScript SDK's 32-hex nonce
EXPIRY = int(NOW) + 900


def _b64(raw: bytes, pad: bool = True) -> str:
    text = base64.urlsafe_b64encode(raw).decode()
    return text if pad else text.rstrip("=")


def _raw_token(call_id: str, function: str, expiry: str, nonce: str, key: str = KEY) -> bytes:
    signature = tokens.sign(key.encode(), call_id, function, expiry, nonce)
    return f"{call_id}.{function}.{expiry}.{nonce}.{signature}".encode()


def mint(call_id: str, function: str, expiry: int, nonce: str) -> str:
    return tokens.mint(KEY.encode(), call_id, function, expiry, nonce)


def _mints() -> list[dict[str, Any]]:
    cases = [
        ("call-123", "get_weather", EXPIRY, NONCE),
        ("root.2", "post_prompt", EXPIRY, NONCE),
        ("a", "f", 0, NONCE),
        ("x" * limits.MAX_CALL_ID_LENGTH, "F" * limits.MAX_FUNCTION_NAME_LENGTH, 10**15, TS_NONCE),
        ("9d3c1c2e-3c7b-4f0e-9a57-1a2b3c4d5e6f", "transfer-call", EXPIRY + 1, "deadbeef00000000"),
        ("~._-", "a_b-c", EXPIRY + 2, NONCE),
    ]
    return [
        {"key": KEY, "call_id": c, "function": f, "expiry": e, "nonce": n, "token": mint(c, f, e, n)}
        for c, f, e, n in cases
    ]


def _tokens() -> list[tuple[str, str, Any]]:
    """(call_id, function, token) to check: valid ones, each reason, and every malformation the parse refuses."""
    good_raw = _raw_token("call-12", "fn", str(EXPIRY), NONCE)
    good = _b64(good_raw)
    unpadded = _b64(good_raw, pad=False)
    assert good != unpadded, "the vectors need a token whose padding shows"
    one_pad_raw = _raw_token("call-123", "fn", str(EXPIRY), NONCE)
    cases: list[tuple[str, str, Any]] = [
        ("call-12", "fn", good),
        ("call-12", "fn", unpadded),
        ("call-12", "fn", good + "="),
        ("call-12", "fn", unpadded + "="),
        ("call-123", "fn", _b64(one_pad_raw)),
        ("call-123", "fn", _b64(one_pad_raw, pad=False)),
        ("call-123", "fn", _b64(one_pad_raw) + "="),
        ("call-12", "other", good),
        ("call-99", "fn", good),
        ("", "fn", good),
        ("call-12", "fn", _b64(_raw_token("call-12", "fn", str(EXPIRY), NONCE, OTHER_KEY))),
        ("call-12", "fn", _b64(_raw_token("call-12", "fn", str(int(NOW) - 1), NONCE))),
        ("call-12", "fn", _b64(_raw_token("call-12", "fn", str(int(NOW)), NONCE))),
        ("call-12", "fn", _b64(_raw_token("call-12", "fn", str(int(NOW) + 1), NONCE))),
        ("call-12", "fn", _b64(_raw_token("call-12", "fn", str(int(NOW) + MAX_LIFETIME), NONCE))),
        ("call-12", "fn", _b64(_raw_token("call-12", "fn", str(int(NOW) + MAX_LIFETIME + 1), NONCE))),
        ("call-12", "fn", _b64(_raw_token("call-12", "fn", "9" * 16, NONCE))),
        ("call-12", "fn", _b64(_raw_token("call-12", "fn", "9" * 17, NONCE))),
        ("call-12", "fn", _b64(_raw_token("call-12", "fn", "0" + str(EXPIRY), NONCE))),
        ("call-12", "fn", _b64(_raw_token("call-12", "fn", "+" + str(EXPIRY), NONCE))),
        ("call-12", "fn", _b64(_raw_token("call-12", "fn", str(EXPIRY), TS_NONCE))),
        ("call-12", "fn", _b64(_raw_token("call-12", "fn", str(EXPIRY), NONCE.upper()))),
        ("call-12", "fn", _b64(_raw_token("call-12", "fn", str(EXPIRY), NONCE[:-1]))),
        ("call-12", "fn", _b64(_raw_token("call-12", "fn", str(EXPIRY), NONCE + "00"))),
        ("root.2", "fn", _b64(_raw_token("root.2", "fn", str(EXPIRY), NONCE))),
        ("..", "fn", _b64(_raw_token("..", "fn", str(EXPIRY), NONCE))),
        ("call-12", "fn", _b64(good_raw.replace(b"call-12", b"call-\xc3\xa9"))),
        ("call-12", "fn", _b64(good_raw.replace(b"call-12", b"cal:-1"))),
        ("call-12", "fn", _b64(good_raw[:-1] + good_raw[-1:].upper())),
        ("call-12", "fn", _b64(good_raw + b".")),
        ("call-12", "fn", _b64(good_raw.replace(b".fn.", b".f.n."))),
        ("call-12", "fn", good.replace("-", "+").replace("_", "/")),
        ("call-12", "fn", " " + good),
        ("call-12", "fn", good[:10] + "\n" + good[10:]),
        ("call-12", "fn", good[:-3] + "é="),
        ("call-12", "fn", "=" * 4),
        ("call-12", "fn", ""),
        ("call-12", "fn", "A" * (limits.MAX_TOKEN_LENGTH + 1)),
        ("call-12", "fn", "not-valid"),
        ("call-12", "f.n", good),
        ("call:12", "fn", good),
        ("c" * (limits.MAX_CALL_ID_LENGTH + 1), "fn", good),
        ("call-12", "f" * (limits.MAX_FUNCTION_NAME_LENGTH + 1), good),
        ("call-\ud800", "fn", good),
        ("call-12", "fn", good[:-1] + "\udfff"),
    ]
    # A last character whose unused low bits are set: the same bytes spelt another way.
    for raw in (good_raw, one_pad_raw):
        text = _b64(raw, pad=False)
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        last = alphabet[alphabet.index(text[-1]) | 1]
        call_id = "call-12" if raw is good_raw else "call-123"
        cases.append((call_id, "fn", text[:-1] + last))
        cases.append((call_id, "fn", text[:-1] + last + "=" * (-len(text) % 4)))
    return cases


def _checks() -> list[dict[str, Any]]:
    out = []
    for call_id, function, token in _tokens():
        code = input_error(call_id, function, token)
        if code is None:
            verdict = tokens.verify([KEY.encode()], call_id, function, token, NOW, MAX_LIFETIME)
            valid, reason = verdict.valid, verdict.reason
        else:
            valid, reason = False, code
        fields = tokens.parse(token)
        out.append(
            {
                "call_id": call_id,
                "function": function,
                "token": token,
                "valid": valid,
                "reason": reason,
                "fields": None if fields is None else list(fields),
            }
        )
    return out


def _inputs() -> list[Any]:
    return [
        "",
        "a",
        ".",
        "..",
        "...a",
        "a.",
        "root.2",
        "~",
        "-",
        "_",
        "x" * 128,
        "x" * 129,
        "a b",
        "a:b",
        "a/b",
        "a%2F",
        "é",
        "\uff41",  # a fullwidth letter: not ASCII
        "abc\n",
        "0123abcd",
        "0123ABCD",
        "0123abc",
        "f" * 64,
        "F" * 65,
        "f-n",
        "f.n",
        "k" * 1024,
        "k" * 1025,
        "😀" * 512,
        "😀" * 513,
        None,
        12,
        True,
    ]


def _limits() -> list[dict[str, Any]]:
    rules = {"call_id": limits.is_call_id, "function_name": limits.is_function_name, "token_text": limits.is_token_text}
    is_incarnation = getattr(limits, "is_incarnation", None)
    if is_incarnation is not None:
        rules["incarnation"] = is_incarnation
    return [{"value": value, **{name: bool(rule(value)) for name, rule in rules.items()}} for value in _inputs()]


def vectors() -> dict[str, Any]:
    return {
        "key": KEY,
        "now": NOW,
        "max_lifetime": MAX_LIFETIME,
        "mints": _mints(),
        "checks": _checks(),
        "limits": _limits(),
        "constants": {
            "MAX_CALL_ID_LENGTH": limits.MAX_CALL_ID_LENGTH,
            "MAX_FUNCTION_NAME_LENGTH": limits.MAX_FUNCTION_NAME_LENGTH,
            "MAX_TOKEN_LENGTH": limits.MAX_TOKEN_LENGTH,
            "MAX_METADATA_KEY_LENGTH": limits.MAX_METADATA_KEY_LENGTH,
            "MAX_METADATA_BYTES": limits.MAX_METADATA_BYTES,
            "DEFAULT_TOKEN_EXPIRY_SECS": limits.DEFAULT_TOKEN_EXPIRY_SECS,
            "DEFAULT_MAX_TOKEN_LIFETIME_SECS": limits.DEFAULT_MAX_TOKEN_LIFETIME_SECS,
            **{
                name: getattr(limits, name)
                for name in ("INCARNATION_LENGTH", "MIN_TOKEN_LIFETIME_SECS")
                if hasattr(limits, name)
            },
        },
    }


def write(path: Path) -> Path:
    path.write_text(json.dumps(vectors()))
    return path


if __name__ == "__main__":
    write(Path(sys.argv[1]))
