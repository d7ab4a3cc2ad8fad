"""session_rules.tokens: the SDK's wire format, verify's reasons in the SDK's order, strict decoding, debug."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import time

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from session_rules import limits, tokens
from session_rules.codes import Reason
from session_rules.tokens import VALID, Verdict

KEY = b"k" * 64
OTHER_KEY = b"o" * 64
NOW = 1_750_000_000.0


def fields_of(token: str) -> list[str]:
    """The five fields, decoded independently of tokens.decode (padding restored)."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    return raw.rsplit(".", 4)


def encode(text: str, *, pad: bool = True) -> str:
    token = base64.urlsafe_b64encode(text.encode()).decode()
    return token if pad else token.rstrip("=")


def test_mint_is_the_sdk_wire_format() -> None:
    token = tokens.mint(KEY, "root.2", "get_weather", 1_750_000_900)
    call_id, function, expiry, nonce, signature = fields_of(token)
    assert (call_id, function, expiry) == ("root.2", "get_weather", "1750000900")
    assert len(nonce) == 16 and int(nonce, 16) >= 0  # 8 random bytes as hex, as the Python SDK
    message = f"root.2:get_weather:1750000900:{nonce}".encode()
    assert signature == hmac.new(KEY, message, "sha256").hexdigest()
    assert len(token) % 4 == 0  # padded like the Python SDK


def test_nonces_differ_between_tokens() -> None:
    minted = {tokens.mint(KEY, "c", "f", 1) for _ in range(50)}
    assert len(minted) == 50


def test_a_fresh_token_is_valid_padded_and_unpadded() -> None:
    token = tokens.mint(KEY, "call", "fn", int(NOW) + 900)
    assert tokens.verify([KEY], "call", "fn", token, NOW) == VALID
    assert tokens.verify([KEY], "call", "fn", token.rstrip("="), NOW) == VALID


def test_expiry_equal_to_now_is_still_valid() -> None:
    """The SDK rejects only when expiry < now."""
    token = tokens.mint(KEY, "call", "fn", int(NOW))
    assert tokens.verify([KEY], "call", "fn", token, NOW).valid
    assert tokens.verify([KEY], "call", "fn", token, NOW + 0.5).reason == Reason.EXPIRED


def test_any_of_several_keys_may_have_signed() -> None:
    token = tokens.mint(OTHER_KEY, "call", "fn", int(NOW) + 900)
    assert tokens.verify([KEY, OTHER_KEY], "call", "fn", token, NOW).valid
    assert tokens.verify([KEY], "call", "fn", token, NOW).reason == Reason.BAD_SIGNATURE
    assert tokens.verify([], "call", "fn", token, NOW).reason == Reason.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("", "empty"),
        ("not a token", "space is not base64url"),
        ("abc", "length 3 mod 4 decodes to junk"),
        ("A", "a single character cannot be base64"),
        (encode("a.b.c.d"), "four parts"),
        (encode("no dots at all"), "one part"),
        (encode("a.f.12x3.n.s"), "expiry not digits"),
        (encode("a.f.-123.n.s"), "signed expiry"),
        (encode("a.f. 123.n.s"), "int() would accept the space"),
        (encode("a.f.١٢٣.n.s"), "int() would accept Arabic-Indic digits"),
        (encode("a.f.123.n.sïg"), "signature not ASCII"),
        (base64.b64encode(b"\xff\xfe.f.1.n.s").decode(), "standard alphabet and not UTF-8"),
        (base64.urlsafe_b64encode(b"\xff\xfe.f.1.n.s").decode(), "not UTF-8"),
        (encode("a.f.1.n.s") + "==", "too much padding"),
        ("=" + encode("a.f.1.n.s"), "padding first"),
        ("a" * (limits.MAX_TOKEN_LENGTH + 1), "over the length limit"),
    ],
)
def test_malformed(token: str, why: str) -> None:
    assert tokens.verify([KEY], "a", "f", token, NOW) == Verdict(False, Reason.MALFORMED), why


@pytest.mark.parametrize("junk", [None, 123, b"dG9rZW4=", ["x"], object()])
def test_non_strings_are_malformed(junk: object) -> None:
    assert tokens.verify([KEY], "a", "f", junk, NOW) == Verdict(False, Reason.MALFORMED)


def test_non_canonical_base64_is_malformed() -> None:
    """Changing the unused low bits of the last character would decode to the same bytes."""
    token = tokens.mint(KEY, "call", "fn", int(NOW) + 900).rstrip("=")
    assert len(token) % 4 != 0, "needs a final character with unused bits"
    last = token[-1]
    index = tokens_alphabet().index(last)
    twin = token[:-1] + tokens_alphabet()[index ^ 1]  # differs only in a dropped bit
    assert base64.urlsafe_b64decode(twin + "=" * (-len(twin) % 4)) == base64.urlsafe_b64decode(
        token + "=" * (-len(token) % 4)
    )
    assert tokens.verify([KEY], "call", "fn", twin, NOW).reason == Reason.MALFORMED


def tokens_alphabet() -> str:
    return "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_empty_call_id_is_rejected() -> None:
    token = tokens.mint(KEY, "", "fn", int(NOW) + 900)
    assert tokens.verify([KEY], "", "fn", token, NOW) == Verdict(False, Reason.MALFORMED)  # no call id in the token


def test_an_empty_call_id_to_check_against_is_a_call_id_mismatch() -> None:
    """A valid token asked about for no call at all: the SDK's `if not call_id` verdict, exactly."""
    token = tokens.mint(KEY, "call", "fn", int(NOW) + 900)
    verdict = tokens.verify([KEY], "", "fn", token, NOW)
    assert verdict == Verdict(False, Reason.CALL_ID_MISMATCH)
    assert verdict.valid is False and verdict.reason == Reason.CALL_ID_MISMATCH
    # before the function is compared, as the SDK does
    assert tokens.verify([KEY], "", "other", token, NOW) == Verdict(False, Reason.CALL_ID_MISMATCH)


# -- strict decoding: every token that is valid but for its base64 spelling is malformed ------------

VALID_TOKEN = tokens.mint(KEY, "call", "fn", int(NOW) + 900, "0123456789abcdef")


@pytest.mark.parametrize(
    ("spelling", "why"),
    [
        (lambda t: "===" + t, "padding before the data"),
        (lambda t: "=" + t, "one padding character first"),
        (lambda t: t.rstrip("=") + "=" * 4, "more padding than needed"),
        (lambda t: t[:8] + "++" + t[8:], "standard-alphabet characters inserted (a lenient decoder skips them)"),
        (lambda t: t[:8] + "//" + t[8:], "standard-alphabet characters inserted"),
        (lambda t: t[:8] + "!!" + t[8:], "characters outside any alphabet inserted"),
        (lambda t: t[:8] + "====" + t[8:], "padding in the middle"),
        (lambda t: t[:8] + "\n\n" + t[8:], "line breaks (MIME base64 allows them)"),
    ],
)
def test_a_valid_token_spelt_leniently_is_malformed(spelling: object, why: str) -> None:
    assert callable(spelling)
    for token in (VALID_TOKEN, VALID_TOKEN.rstrip("=")):
        assert tokens.verify([KEY], "call", "fn", token, NOW) == VALID
        assert tokens.verify([KEY], "call", "fn", spelling(token), NOW) == Verdict(False, Reason.MALFORMED), why


def test_padding_is_exact_or_absent() -> None:
    """A token whose base64 needs two padding characters: both, or none; one alone is refused."""
    token = tokens.mint(KEY, "call-10", "fn", int(NOW) + 900, "0123456789abcdef")
    assert token.endswith("==")
    assert tokens.verify([KEY], "call-10", "fn", token, NOW) == VALID
    assert tokens.verify([KEY], "call-10", "fn", token[:-2], NOW) == VALID
    assert tokens.verify([KEY], "call-10", "fn", token[:-1], NOW) == Verdict(False, Reason.MALFORMED)


def test_the_url_safe_alphabet_decodes_and_the_standard_one_does_not() -> None:
    """'~' in a call id puts '-' in the base64url text; '+' in its place is the standard alphabet's spelling."""
    token = tokens.mint(KEY, "ab~", "fn", int(NOW) + 900, "0123456789abcdef")
    assert "-" in token
    assert tokens.verify([KEY], "ab~", "fn", token, NOW) == VALID
    assert tokens.verify([KEY], "ab~", "fn", token.replace("-", "+"), NOW) == Verdict(False, Reason.MALFORMED)


@pytest.mark.parametrize("call_id", ["X", "X.X", "XX", ".X", "X."])
def test_call_ids_of_letters_and_dots_are_not_dots_alone(call_id: str) -> None:
    token = tokens.mint(KEY, call_id, "fn", int(NOW) + 900)
    assert tokens.verify([KEY], call_id, "fn", token, NOW) == VALID
    assert tokens.parse(token) == (call_id, "fn", str(int(NOW) + 900), fields_of(token)[3], fields_of(token)[4])


# The SDK's order: function, expiry, signature, call id. A token breaking several rules gets
# the reason of the first one it breaks.
ORDER = [Reason.FUNCTION_MISMATCH, Reason.EXPIRED, Reason.BAD_SIGNATURE, Reason.CALL_ID_MISMATCH]


@pytest.mark.parametrize(
    "broken",
    [set(c) for n in range(len(ORDER) + 1) for c in itertools.combinations(ORDER, n)],
    ids=lambda broken: "+".join(sorted(broken)) or "none",
)
def test_reasons_follow_the_sdk_order(broken: set[str]) -> None:
    expiry = int(NOW) - 10 if Reason.EXPIRED in broken else int(NOW) + 900
    key = OTHER_KEY if Reason.BAD_SIGNATURE in broken else KEY
    token = tokens.mint(key, "call-1", "fn", expiry)
    call_id = "call-2" if Reason.CALL_ID_MISMATCH in broken else "call-1"
    function = "other_fn" if Reason.FUNCTION_MISMATCH in broken else "fn"
    expected = next((reason for reason in ORDER if reason in broken), None)
    verdict = tokens.verify([KEY], call_id, function, token, NOW)
    assert verdict == (VALID if expected is None else Verdict(False, expected))


def test_call_ids_of_the_alphabet_with_dots() -> None:
    for call_id in ["root.2", "a.b.c.d.e.f", ".a.", "~-_.9", "x" * 128]:
        token = tokens.mint(KEY, call_id, "fn", int(NOW) + 900)
        assert tokens.verify([KEY], call_id, "fn", token, NOW).valid, call_id
        assert tokens.verify([KEY], call_id + "x", "fn", token, NOW).reason == Reason.CALL_ID_MISMATCH


@pytest.mark.parametrize("call_id", ["victim:transfer:32503680000", "a:b", "...", "通話-1", "a b", "a/b", "x" * 129])
def test_a_signed_token_for_a_call_id_outside_the_alphabet_is_malformed(call_id: str) -> None:
    """The SDK would mint these; their parse would not be unambiguous, so none validates."""
    token = tokens.mint(KEY, call_id, "fn", int(NOW) + 900)
    assert tokens.verify([KEY], call_id, "fn", token, NOW).reason == Reason.MALFORMED


def sdk_style(call_id: str, function: str, expiry: str, nonce: str, *, key: bytes = KEY, signature: str = "") -> str:
    message = f"{call_id}:{function}:{expiry}:{nonce}".encode()
    signature = signature or hmac.new(key, message, hashlib.sha256).hexdigest()
    return encode(f"{call_id}.{function}.{expiry}.{nonce}.{signature}")


@pytest.mark.parametrize(
    ("nonce", "valid"),
    [
        ("0123456789abcdef", True),  # Python SDK: 8 bytes
        ("0123456789abcdef0123456789abcdef", True),  # TypeScript SDK: 16 bytes
        ("0123456789ABCDEF", False),
        ("0123456789abcde", False),
        ("0123456789abcdef0", False),
        ("0123456789abcdeg", False),
        ("", False),
        ("0123456789abcdef:1", False),
    ],
)
def test_only_the_nonces_the_sdks_mint(nonce: str, valid: bool) -> None:
    verdict = tokens.verify([KEY], "c", "f", sdk_style("c", "f", str(int(NOW) + 60), nonce), NOW)
    assert verdict == (VALID if valid else Verdict(False, Reason.MALFORMED))


@pytest.mark.parametrize("expiry", ["0" + str(int(NOW) + 60), "+" + str(int(NOW) + 60), "1e10", " 1", "", "١٢"])
def test_only_canonical_decimal_expiries(expiry: str) -> None:
    token = sdk_style("c", "f", expiry, "0123456789abcdef")
    assert tokens.verify([KEY], "c", "f", token, NOW) == Verdict(False, Reason.MALFORMED)


def test_only_lowercase_hex_signatures() -> None:
    good = sdk_style("c", "f", str(int(NOW) + 60), "0123456789abcdef")
    signature = fields_of(good)[4]
    upper = sdk_style("c", "f", str(int(NOW) + 60), "0123456789abcdef", signature=signature.upper())
    assert tokens.verify([KEY], "c", "f", good, NOW) == VALID
    assert tokens.verify([KEY], "c", "f", upper, NOW) == Verdict(False, Reason.MALFORMED)


def test_an_expiry_beyond_the_maximum_lifetime_is_refused() -> None:
    limit = limits.DEFAULT_MAX_TOKEN_LIFETIME_SECS
    at_limit = tokens.mint(KEY, "c", "f", int(NOW) + limit)
    beyond = tokens.mint(KEY, "c", "f", int(NOW) + limit + 1)
    year_3000 = tokens.mint(KEY, "c", "f", 32503680000)
    assert tokens.verify([KEY], "c", "f", at_limit, NOW) == VALID
    assert tokens.verify([KEY], "c", "f", beyond, NOW) == Verdict(False, Reason.LIFETIME_EXCEEDED)
    assert tokens.verify([KEY], "c", "f", year_3000, NOW) == Verdict(False, Reason.LIFETIME_EXCEEDED)
    assert tokens.verify([KEY], "c", "f", year_3000, NOW, max_lifetime=10**12) == VALID


def test_a_session_nonce_starts_with_its_incarnation() -> None:
    nonce = tokens.new_nonce("89abcdef")
    assert nonce.startswith("89abcdef") and len(nonce) == tokens.NONCE_LENGTH
    token = tokens.mint(KEY, "c", "f", int(NOW) + 60, nonce)
    assert tokens.parse(token).nonce == nonce  # type: ignore[union-attr]
    assert tokens.verify([KEY], "c", "f", token, NOW) == VALID


def test_decode_returns_fields_or_none() -> None:
    token = tokens.mint(KEY, "a.b", "fn", 123)
    assert tokens.decode(token)[:3] == ["a.b", "fn", "123"]  # type: ignore[index]
    assert tokens.decode(token.rstrip("=")) == tokens.decode(token)
    assert tokens.decode("!!!!") is None
    assert tokens.decode(encode("a.b.c")) is None


# -- debug ---------------------------------------------------------------------------------


def test_debug_of_a_valid_token() -> None:
    token = tokens.mint(KEY, "call-123456789", "get_weather", int(NOW) + 900)
    _, _, expiry, nonce, signature = fields_of(token)
    out = tokens.debug(token, NOW)
    assert out["valid_format"] is True
    assert out["components"] == {
        "call_id": "call-123...",
        "function": "get_weather",
        "expiry": expiry,
        "expiry_date": out["components"]["expiry_date"],
        "nonce": nonce,
        "signature": signature[:8] + "...",
    }
    assert out["components"]["expiry_date"].startswith(time.strftime("%Y-", time.localtime(NOW + 900)))
    assert out["status"] == {"current_time": int(NOW), "is_expired": False, "expires_in_seconds": 900}


def test_debug_of_an_expired_token_and_a_short_call_id() -> None:
    out = tokens.debug(tokens.mint(KEY, "c8chars!", "fn", int(NOW) - 5), NOW)
    assert out["components"]["call_id"] == "c8chars!"  # 8 characters: not shortened
    assert out["status"] == {"current_time": int(NOW), "is_expired": True, "expires_in_seconds": 0}


def test_debug_shortens_a_call_id_from_nine_characters() -> None:
    out = tokens.debug(tokens.mint(KEY, "call-9chr", "fn", int(NOW) + 5), NOW)
    assert out["components"]["call_id"] == "call-9ch..."


def test_debug_of_a_token_expiring_now_is_not_expired() -> None:
    """As the SDK: expired only once the expiry has passed."""
    out = tokens.debug(tokens.mint(KEY, "c", "fn", int(NOW)), NOW)
    assert out["status"] == {"current_time": int(NOW), "is_expired": False, "expires_in_seconds": 0}
    out = tokens.debug(tokens.mint(KEY, "c", "fn", int(NOW) - 1), NOW)
    assert out["status"] == {"current_time": int(NOW), "is_expired": True, "expires_in_seconds": 0}


@pytest.mark.parametrize("junk", [None, 123, b"dG9rZW4=", ["x"]])
def test_debug_of_a_non_string(junk: object) -> None:
    assert tokens.debug(junk, NOW) == {"valid_format": False, "error": "token is not base64url text", "token_length": 0}


def test_debug_counts_the_parts_of_a_leniently_spelt_token() -> None:
    """What the SDK's lenient decoder reads from a non-canonical spelling: its part count."""
    four = encode("a.b.c.dd")
    assert four.endswith("=") and not four.endswith("==")  # one padding character, unpadded length 3 mod 4
    three_two_pad = encode("a.b.cde")
    assert three_two_pad.endswith("==")
    cases = {
        four.rstrip("=") + "===": 4,  # too much padding
        three_two_pad[:-1]: 3,  # one of two padding characters
        "=" + four: None,  # padding first: not base64
        "=" + three_two_pad.rstrip("="): None,
        "X": None,  # a single character cannot be base64
    }
    for token, parts in cases.items():
        out = tokens.debug(token, NOW)
        if parts is None:
            assert out == {"valid_format": False, "error": "token is not base64url text", "token_length": len(token)}
        else:
            assert out == {"valid_format": False, "parts_count": parts, "token_length": len(token)}, token


def test_debug_counts_parts_up_to_the_length_limit() -> None:
    at_limit = encode("a.b." + "c" * 764)  # 768 bytes: 1,024 base64 characters, no padding
    assert len(at_limit) == limits.MAX_TOKEN_LENGTH
    over = at_limit[:-4] + encode("a.b." + "c" * 764)[-4:] + "AAAA"
    assert tokens.debug(at_limit, NOW) == {"valid_format": False, "parts_count": 3, "token_length": 1024}
    assert tokens.debug(over, NOW) == {
        "valid_format": False,
        "error": "token is not base64url text",
        "token_length": len(over),
    }


def test_debug_never_checks_the_signature() -> None:
    assert tokens.debug(tokens.mint(OTHER_KEY, "c", "f", int(NOW) + 1), NOW)["valid_format"] is True


def test_debug_of_a_non_numeric_expiry_reports_it_unknown() -> None:
    out = tokens.debug(encode("c.f.soon.n.sig"), NOW)
    assert out["components"]["expiry"] == "soon"
    assert out["components"]["expiry_date"] is None
    assert out["status"] == {"current_time": int(NOW), "is_expired": None, "expires_in_seconds": None}


def test_debug_of_wrong_part_counts_and_junk() -> None:
    three = encode("a.b.c")
    assert tokens.debug(three, NOW) == {"valid_format": False, "parts_count": 3, "token_length": len(three)}
    assert tokens.debug("%%%%", NOW) == {"valid_format": False, "parts_count": 1, "token_length": 4}  # as the SDK
    not_utf8 = base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode()
    junk = tokens.debug(not_utf8, NOW)
    assert junk["valid_format"] is False and junk["token_length"] == 4 and junk["error"]
    assert tokens.debug("", NOW)["token_length"] == 0


@example(key=bytes(range(100)), call_id="c", function="f", expiry="1", nonce="n")  # longer than a block
@given(key=st.binary(max_size=200), call_id=st.text(), function=st.text(), expiry=st.text(), nonce=st.text())
def test_sign_is_hmac_sha256_for_any_key(key: bytes, call_id: str, function: str, expiry: str, nonce: str) -> None:
    """sign() keeps precomputed pad states per key; it must equal the standard HMAC, short or long keys."""
    message = f"{call_id}:{function}:{expiry}:{nonce}".encode()
    expected = hmac.new(key, message, hashlib.sha256).hexdigest()
    assert tokens.sign(key, call_id, function, expiry, nonce) == expected
