"""No token can be re-cut into one for another (call, function, expiry).

A token's signature covers `call_id:function:expiry:nonce`. A re-cut keeps the signature and
moves the field boundaries: every other way of writing the same signed message as four fields
gives a token for a different call, function or expiry that carries a genuine signature. The
attacker chooses the call id the service mints for, so the tokens here are signed for any call
id and function (as the SDKs, which check neither, would sign them), and every re-cut is tried.
"""

from __future__ import annotations

import base64
import itertools

from hypothesis import example, given
from hypothesis import strategies as st
from session_rules import limits, tokens
from session_rules.codes import Reason

KEY = b"recut-key"
NOW = 1_750_000_000.0
# Characters that matter to the parse (both separators) beside ordinary ones and digits.
PIECES = "ab9_-.~:"


def recuts(token: str) -> list[tuple[str, str, str]]:
    """Every (token, call id, function) that re-cuts `token`'s signed message at other boundaries."""
    raw = base64.urlsafe_b64decode(token).decode()
    call_id, function, expiry, nonce, signature = raw.rsplit(".", 4)
    message = f"{call_id}:{function}:{expiry}:{nonce}"
    colons = [i for i, c in enumerate(message) if c == ":"]
    found = []
    for a, b, c in itertools.combinations(colons, 3):
        fields = (message[:a], message[a + 1 : b], message[b + 1 : c], message[c + 1 :])
        if fields == (call_id, function, expiry, nonce):
            continue
        text = ".".join((*fields, signature))
        for padded in (True, False):
            cut = base64.urlsafe_b64encode(text.encode()).decode()
            found.append((cut if padded else cut.rstrip("="), fields[0], fields[1]))
    return found


def accepted(token: str) -> list[tuple[str, str]]:
    return [
        (call_id, function)
        for cut, call_id, function in recuts(token)
        if tokens.verify([KEY], call_id, function, cut, NOW).valid
    ]


def test_the_published_forgery_is_refused() -> None:
    """A token minted for call id `victim:transfer:32503680000` re-cut for call `victim`, function `transfer`."""
    token = tokens.mint(KEY, "victim:transfer:32503680000", "X", int(NOW) + 900)
    assert ("victim", "transfer") in [(c, f) for _, c, f in recuts(token)]  # the re-cut exists...
    assert accepted(token) == []  # ...and is refused
    assert tokens.verify([KEY], "victim:transfer:32503680000", "X", token, NOW).reason == Reason.MALFORMED


@given(
    call_id=st.text(PIECES, min_size=1, max_size=40),
    function=st.text(PIECES, min_size=1, max_size=12),
    lifetime=st.integers(0, 10**10),
    nonce_hex=st.sampled_from([16, 32]),
    data=st.data(),
)
@example(call_id="victim:transfer:32503680000", function="X", lifetime=900, nonce_hex=16, data=None)
def test_no_recut_of_any_signed_token_validates(
    call_id: str, function: str, lifetime: int, nonce_hex: int, data: st.DataObject | None
) -> None:
    nonce = "0123456789abcdef0123456789abcdef"[:nonce_hex]
    if data is not None:
        nonce = data.draw(st.text("0123456789abcdef:", min_size=nonce_hex, max_size=nonce_hex), "nonce")
    token = tokens.mint(KEY, call_id, function, int(NOW) + lifetime, nonce)
    assert accepted(token) == []
    # The original validates exactly when every field keeps the rules.
    ours = limits.is_call_id(call_id) and limits.is_function_name(function) and ":" not in nonce
    assert tokens.verify([KEY], call_id, function, token, NOW, max_lifetime=10**10).valid == ours


def test_recuts_are_really_tried() -> None:
    """The enumeration finds re-cuts wherever the message has more than three colons."""
    token = tokens.mint(KEY, "a:b", "c:d", int(NOW) + 900)
    assert len(recuts(token)) == 2 * (10 - 1)  # C(5,3) boundary choices, one of them the original
