"""Properties of session_rules.tokens: no single-character change survives; nothing makes verify or debug raise."""

from __future__ import annotations

import base64
import string

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from session_rules import limits, tokens
from session_rules.codes import Reason

KEY = b"property-test-key"
NOW = 1_750_000_000.0
EXPIRY = int(NOW) + 900
REASONS = set(Reason) - {Reason.SESSION_ENDED}  # the service's revocation check, never a parse
B64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
# Each other base64url character, padding, and characters a lenient decoder would skip or choke on.
REPLACEMENTS = B64URL + "=" + "+/. \n\x00é\udcff"

# (call id, function) pairs whose tokens get every single-character change; padded tokens whose
# length is not a multiple of three exercise the final partial group and its padding.
TOKENS = [
    ("call-1", "get_weather"),
    ("root.2", "f"),  # a dotted call id (the SDK splits from the right)
    ("a.b~c-_9", "transfer_call"),  # every kind of call-id character
    ("a" * 128, "b" * 64),  # the longest inputs the service accepts
]


def variants(token: str) -> list[str]:
    return [token[:i] + c + token[i + 1 :] for i in range(len(token)) for c in REPLACEMENTS if c != token[i]]


@pytest.mark.parametrize(("call_id", "function"), TOKENS)
@pytest.mark.parametrize("padded", [True, False], ids=["padded", "unpadded"])
def test_every_single_character_change_is_rejected(call_id: str, function: str, padded: bool) -> None:
    token = tokens.mint(KEY, call_id, function, EXPIRY)
    if not padded:
        token = token.rstrip("=")
    assert tokens.verify([KEY], call_id, function, token, NOW).valid
    accepted = [v for v in variants(token) if tokens.verify([KEY], call_id, function, v, NOW).valid]
    assert accepted == []


def test_changes_cover_padding_positions() -> None:
    """The exhaustive test above really meets '=' characters (some tokens need padding)."""
    assert any(tokens.mint(KEY, c, f, EXPIRY).endswith("=") for c, f in TOKENS)


@given(st.data())
def test_random_single_character_changes_are_rejected(data: st.DataObject) -> None:
    call_id = data.draw(
        st.from_regex(limits.CALL_ID_PATTERN, fullmatch=True).filter(lambda c: len(c) <= 128), "call_id"
    )
    function = data.draw(st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True), "function")
    token = tokens.mint(KEY, call_id, function, EXPIRY)
    i = data.draw(st.integers(0, len(token) - 1), "position")
    c = data.draw(st.sampled_from(REPLACEMENTS).filter(lambda c: c != token[i]), "replacement")
    changed = token[:i] + c + token[i + 1 :]
    assert tokens.verify([KEY], call_id, function, token, NOW).valid
    verdict = tokens.verify([KEY], call_id, function, changed, NOW)
    assert not verdict.valid and verdict.reason in REASONS


# -- never raises ----------------------------------------------------------------------------

any_text = st.text(st.characters(exclude_categories=[]), max_size=300)  # surrogates included
latin1_junk = st.binary(max_size=300).map(lambda b: b.decode("latin-1"))
surrogate_junk = st.binary(max_size=300).map(lambda b: b.decode("utf-8", "surrogateescape"))
b64url_text = st.text(st.sampled_from(B64URL + "="), max_size=300)
# Base64url of dotted text: gets past decoding into the field checks with arbitrary fields.
dotted = st.lists(st.text(max_size=20), min_size=1, max_size=7).map(".".join)
encoded_dotted = st.one_of(
    dotted.map(lambda s: base64.urlsafe_b64encode(s.encode()).decode()),
    dotted.map(lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")),
)
junk_tokens = st.one_of(any_text, latin1_junk, surrogate_junk, b64url_text, encoded_dotted)
HUGE = [
    "A" * 2**20,
    "=" * 2**20,
    tokens.mint(KEY, "c", "f", EXPIRY) * (2**20 // 100),
    base64.urlsafe_b64encode(("x." * 2**19).encode()).decode(),
]


@given(token=junk_tokens, call_id=any_text, function=any_text)
@example(token=HUGE[0], call_id="c", function="f")
@example(token=HUGE[1], call_id="c", function="f")
@example(token=HUGE[2], call_id="c", function="f")
@example(token=HUGE[3], call_id="c", function="f")
@example(token="\udcff" * 10, call_id="\udcff", function="\udcff")
@example(token=base64.urlsafe_b64encode(b"c.f.1.n.\xc3\xa9").decode(), call_id="c", function="f")
def test_verify_never_raises(token: str, call_id: str, function: str) -> None:
    verdict = tokens.verify([KEY], call_id, function, token, NOW)
    assert verdict.valid is False
    assert verdict.reason in REASONS


@given(token=junk_tokens)
@example(token=HUGE[0])
@example(token=HUGE[3])
@example(token="\udcff")
@example(token=base64.urlsafe_b64encode(b"c.f.99999999999999999999.n.s").decode())
@example(token=base64.urlsafe_b64encode(b"c.f.-99999999999.n.s").decode())
@example(token=(lambda t: t[:8] + "." + t[8:])(tokens.mint(KEY, "c", "f", EXPIRY)))  # loosely 5 parts
def test_debug_never_raises(token: str) -> None:
    out = tokens.debug(token, NOW)
    assert isinstance(out["valid_format"], bool)
    assert out.get("token_length", len(token)) == len(token)
    if out["valid_format"]:
        assert set(out) == {"valid_format", "components", "status"}
    else:
        assert set(out) in ({"valid_format", "parts_count", "token_length"}, {"valid_format", "error", "token_length"})
        assert out.get("parts_count") != 5  # the SDK reports a part count only when it is not 5


@given(value=st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text())))
def test_non_strings_never_raise(value: object) -> None:
    assert tokens.verify([KEY], "c", "f", value, NOW).reason == Reason.MALFORMED
    assert tokens.debug(value, NOW)["valid_format"] is False


@given(fields=st.lists(st.text(max_size=30), min_size=5, max_size=5))
def test_verify_accepts_only_what_was_signed(fields: list[str]) -> None:
    """A token of arbitrary fields (signature included) never validates unless the HMAC matches."""
    token = base64.urlsafe_b64encode(".".join(fields).encode()).decode()
    call_id, function = fields[0] or "c", fields[1]
    verdict = tokens.verify([KEY], call_id, function, token, NOW)
    assert not verdict.valid and verdict.reason in REASONS
