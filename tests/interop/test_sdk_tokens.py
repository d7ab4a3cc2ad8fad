"""Interop with the real signalwire-sdk: tokens cross both ways, debug output agrees field by field.

Both directions go through session_core.tokens directly and through SessionService (moto-backed
KeyRing reading the template's secret), so the whole path an agent relies on is covered.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from session_core.errors import DebugDisabled
from session_core.service import SessionService
from session_rules import limits, tokens
from session_rules.codes import Reason
from signalwire.core.security.session_manager import SessionManager

from tests.support.accounts import AwsAccount
from tests.support.clock import Clock

SECRET = "Z8nq2xV7pL0cR4tY9wK3mB6hD1fJ5sG8aQ2eU7iO4uN0vC3xT6yW9rE1lP5kM8jH"  # like the template's
# Every kind of call id the rule allows: a SignalWire UUID, the SDK's token_urlsafe, dots anywhere.
CALL_IDS = ["call-1", "root.2", "a.b.c.d.e", "1c3b8f8e-9d1b-4a57-8f3e-2b7c1d0e4f6a", "Zm9v_YmFy-x~.", "x" * 128, "-"]
# Call ids the SDK signs for but the rule refuses: their tokens are malformed here.
OUTSIDE = ["通話.1", "📞-ünï.côdé", "=", "a:b", "victim:transfer:32503680000", "..", "a/b"]
FUNCTIONS = ["get_weather", "transfer_call", "f", "A-b_9"]

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)  # what str.encode() accepts


def sdk(secret: str = SECRET, expiry_secs: int = 900, debug: bool = False) -> SessionManager:
    manager = SessionManager(token_expiry_secs=expiry_secs, secret_key=secret)
    manager._debug_mode = debug
    return manager


def padding_needed(token: str) -> bool:
    return token.endswith("=")


def assert_debug_agrees(token: str, ours_debug: Any = None) -> dict[str, Any]:
    """The SDK's debug_token and ours, for the same token at the same second, field by field.

    Where the SDK answers with an exception text (`error`), ours has the same keys and
    token length; the text itself is ours to word.
    """
    theirs = sdk(debug=True).debug_token(token)
    now = theirs["status"]["current_time"] if "status" in theirs else time.time()
    ours = (ours_debug or (lambda t, n: tokens.debug(t, n)))(token, now)
    if "error" in theirs:
        assert set(ours) == set(theirs), (ours, theirs)
        assert ours["valid_format"] is False and ours["token_length"] == theirs["token_length"]
    else:
        assert ours == theirs
    return theirs


# -- our tokens in the SDK ---------------------------------------------------------------------


@pytest.mark.parametrize("call_id", CALL_IDS)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_our_tokens_validate_in_the_sdk(call_id: str, function: str) -> None:
    token = tokens.mint(SECRET.encode(), call_id, function, int(time.time()) + 900)
    manager = sdk()
    assert manager.validate_token(call_id, function, token)
    assert manager.validate_tool_token(function, token, call_id)  # the alias, other argument order
    assert not manager.validate_token(call_id + "x", function, token)
    assert not manager.validate_token(call_id, function + "x", token)
    assert not sdk("another secret").validate_token(call_id, function, token)


def test_our_expired_tokens_are_refused_by_the_sdk() -> None:
    token = tokens.mint(SECRET.encode(), "call-1", "f", int(time.time()) - 5)
    assert not sdk().validate_token("call-1", "f", token)


def test_a_non_ascii_secret_is_used_as_its_utf8_bytes() -> None:
    secret = "ключ-🔑-clé"
    token = tokens.mint(secret.encode(), "call-1", "f", int(time.time()) + 900)
    assert sdk(secret).validate_token("call-1", "f", token)
    theirs = sdk(secret).generate_token("f", "call-1")
    assert tokens.verify([secret.encode()], "call-1", "f", theirs, time.time()).valid


def test_an_sdk_agent_with_the_same_swaig_secret_accepts_our_tokens() -> None:
    """What the contract promises: an agent started with swaig_secret=<the secret> needs no change."""
    from signalwire import AgentBase
    from signalwire.core.function_result import FunctionResult

    agent = AgentBase(name="interop", swaig_secret=SECRET)
    agent.define_tool(
        name="get_weather", description="weather", parameters={}, handler=lambda args, raw: FunctionResult("ok")
    )
    token = tokens.mint(SECRET.encode(), "root.2", "get_weather", int(time.time()) + 900)
    assert agent.validate_tool_token("get_weather", token, "root.2")
    assert not agent.validate_tool_token("get_weather", token, "root.3")


# -- SDK tokens here ---------------------------------------------------------------------------


@pytest.mark.parametrize("call_id", CALL_IDS)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_sdk_tokens_validate_here(call_id: str, function: str) -> None:
    manager = sdk()
    for token in (manager.generate_token(function, call_id), manager.create_tool_token(function, call_id)):
        now = time.time()
        assert tokens.verify([SECRET.encode()], call_id, function, token, now).valid
        # The TypeScript SDK does not pad: the same token without '=' must validate too.
        assert tokens.verify([SECRET.encode()], call_id, function, token.rstrip("="), now).valid
        assert tokens.verify([SECRET.encode()], call_id + "x", function, token, now).reason == Reason.CALL_ID_MISMATCH
        assert tokens.verify([b"another secret"], call_id, function, token, now).reason == Reason.BAD_SIGNATURE


@pytest.mark.parametrize("call_id", OUTSIDE)
def test_sdk_tokens_for_call_ids_outside_the_rule_are_malformed_here(call_id: str) -> None:
    """The SDK accepts any call id; here a token's parse must be unambiguous, so these are refused."""
    token = sdk().generate_token("f", call_id)
    assert sdk().validate_token(call_id, "f", token)
    assert tokens.verify([SECRET.encode()], call_id, "f", token, time.time()).reason == Reason.MALFORMED


def test_unpadded_sdk_tokens_are_really_exercised() -> None:
    minted = [sdk().generate_token(f, c) for c in CALL_IDS for f in FUNCTIONS]
    assert any(padding_needed(t) for t in minted)
    # The Python SDK itself cannot read a token whose padding was stripped (its known weakness).
    unpadded = next(t.rstrip("=") for t in minted if padding_needed(t))
    call_id, function = base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4)).decode().rsplit(".", 4)[:2]
    assert not sdk().validate_token(call_id, function, unpadded)
    assert tokens.verify([SECRET.encode()], call_id, function, unpadded, time.time()).valid


def test_sdk_expired_tokens_are_expired_here() -> None:
    token = sdk(expiry_secs=-5).generate_token("f", "call-1")
    assert tokens.verify([SECRET.encode()], "call-1", "f", token, time.time()).reason == Reason.EXPIRED


@given(
    call_id=st.from_regex(limits.CALL_ID_PATTERN, fullmatch=True).filter(limits.is_call_id),
    function=st.from_regex(limits.FUNCTION_NAME_PATTERN, fullmatch=True),
    asked_call_id=text,
    asked_function=text,
    same=st.sampled_from(["both", "call_id", "function", "neither"]),
    expiry_secs=st.sampled_from([-3600, -60, 60, 900]),  # far from now: no second boundary in between
    sdk_mints=st.booleans(),
    right_key=st.booleans(),
)
def test_verdicts_agree_with_the_sdk(
    call_id: str,
    function: str,
    asked_call_id: str,
    asked_function: str,
    same: str,
    expiry_secs: int,
    sdk_mints: bool,
    right_key: bool,
) -> None:
    """For any call id and function the rules allow, whoever mints, both sides reach the same answer."""
    if sdk_mints:
        token = sdk(SECRET if right_key else "wrong", expiry_secs).generate_token(function, call_id)
    else:
        key = (SECRET if right_key else "wrong").encode()
        token = tokens.mint(key, call_id, function, int(time.time()) + expiry_secs)
    asked_call_id = call_id if same in ("both", "call_id") else asked_call_id
    asked_function = function if same in ("both", "function") else asked_function
    theirs = sdk().validate_token(asked_call_id, asked_function, token)
    ours = tokens.verify([SECRET.encode()], asked_call_id, asked_function, token, time.time())
    assert ours.valid == theirs, ours
    assert ours.valid or ours.reason in set(Reason) - {Reason.LIFETIME_EXCEEDED, Reason.SESSION_ENDED}


# -- debug agrees ------------------------------------------------------------------------------


def test_debug_agrees_for_a_valid_token() -> None:
    theirs = assert_debug_agrees(sdk().generate_token("get_weather", "root.2.long-call-id"))
    assert theirs["valid_format"] is True and theirs["status"]["is_expired"] is False


def test_debug_agrees_for_our_token() -> None:
    theirs = assert_debug_agrees(tokens.mint(SECRET.encode(), "通話.1", "f", int(time.time()) + 60))
    assert theirs["components"]["call_id"] == "通話.1"


def test_debug_agrees_for_an_expired_token() -> None:
    theirs = assert_debug_agrees(sdk(expiry_secs=-30).generate_token("f", "call-1"))
    assert theirs["status"]["is_expired"] is True and theirs["status"]["expires_in_seconds"] == 0


@pytest.mark.parametrize("raw", ["a.b.c", "no-dots", "a.b.c.d", "1.2.3.4.5.6"])
def test_debug_agrees_for_other_part_counts(raw: str) -> None:
    assert_debug_agrees(base64.urlsafe_b64encode(raw.encode()).decode())


@pytest.mark.parametrize(
    "token",
    [
        base64.urlsafe_b64encode(b"\xff\xfe.a.b.c.d").decode(),  # not UTF-8
        base64.urlsafe_b64encode(b"c.f.soon.n.s").decode(),  # expiry not a number
        base64.urlsafe_b64encode(b"c.f.1000000000000.n.s").decode(),  # year out of range
        "@@@@",
        "abc",  # wrong padding
    ],
)
def test_debug_agrees_for_odd_tokens(token: str) -> None:
    assert_debug_agrees(token)


def date_out_of_range(expiry: str) -> bool:
    """An expiry int() reads but datetime cannot place (OverflowError/OSError in the SDK's debug_token)."""
    try:
        datetime.fromtimestamp(int(expiry))
    except ValueError:
        return False  # not a number, or a year out of range: both sides report the expiry as unknown
    except (OverflowError, OSError):
        return True
    return False


@given(
    parts=st.tuples(
        text,
        text,
        st.one_of(st.integers(-(10**11), 10**12).map(str), text.filter(lambda s: not date_out_of_range(s))),
        text,
        text,
    )
)
def test_debug_agrees_for_any_five_fields(parts: tuple[str, ...]) -> None:
    token = base64.urlsafe_b64encode(".".join(parts).encode()).decode()
    assert_debug_agrees(token)


def test_debug_differs_only_where_the_sdk_would_fail() -> None:
    """Deliberate differences, pinned: unpadded tokens decode here; the SDK cannot decode them."""
    token = next(t for t in (sdk().generate_token("f", "c" * n) for n in (1, 2, 3)) if padding_needed(t))
    unpadded = token.rstrip("=")
    assert "error" in sdk(debug=True).debug_token(unpadded)
    now = time.time()
    ours = tokens.debug(unpadded, now)
    assert ours == tokens.debug(token, now) and ours["valid_format"] is True


def test_debug_of_an_expiry_beyond_the_platform_dates() -> None:
    """The SDK's debug_token fails as a whole (its inner except catches only ValueError); ours
    still shows the components, with the expiry's date and status unknown as for a non-number."""
    token = base64.urlsafe_b64encode(b"c.f.99999999999999999999.n.sig").decode()
    assert date_out_of_range("99999999999999999999")
    assert "error" in sdk(debug=True).debug_token(token)
    ours = tokens.debug(token, time.time())
    assert ours["valid_format"] is True and ours["components"]["expiry_date"] is None
    assert ours["status"]["is_expired"] is None and ours["status"]["expires_in_seconds"] is None


def test_debug_off_says_what_the_sdk_says(service: SessionService) -> None:
    assert sdk().debug_token("anything") == {"error": DebugDisabled.message}
    with pytest.raises(DebugDisabled):
        service.debug_view()


# -- through SessionService, keys from (moto's) Secrets Manager ---------------------------------


@pytest.mark.parametrize("call_id", ["root.2", "1c3b8f8e-9d1b-4a57-8f3e-2b7c1d0e4f6a", "c" * 128])
def test_service_tokens_validate_in_the_sdk(service: SessionService, aws: AwsAccount, call_id: str) -> None:
    service.create_session(call_id, {})
    minted, expiry = service.mint(call_id, FUNCTIONS)
    assert set(minted) == set(FUNCTIONS)
    assert expiry == int(service.clock()) + service.config.token_expiry_secs
    manager = sdk(aws.signing_key)
    for function, token in minted.items():
        assert manager.validate_tool_token(function, token, call_id)
        assert not manager.validate_tool_token(function, token, call_id + ".1")
        assert service.validate(call_id, function, token) == tokens.VALID


@pytest.mark.parametrize("call_id", ["root.2", "1c3b8f8e-9d1b-4a57-8f3e-2b7c1d0e4f6a", "c" * 128])
def test_sdk_tokens_validate_in_the_service(service: SessionService, aws: AwsAccount, call_id: str) -> None:
    token = sdk(aws.signing_key).create_tool_token("transfer_call", call_id)
    assert service.validate(call_id, "transfer_call", token) == tokens.VALID
    assert service.validate(call_id, "transfer_call", token.rstrip("=")) == tokens.VALID
    assert service.validate(call_id, "get_weather", token).reason == Reason.FUNCTION_MISMATCH
    assert service.validate(call_id + "x", "transfer_call", token).reason == Reason.CALL_ID_MISMATCH
    other = sdk("not the secret").create_tool_token("transfer_call", call_id)
    assert service.validate(call_id, "transfer_call", other).reason == Reason.BAD_SIGNATURE


def test_service_refuses_sdk_tokens_once_expired(service: SessionService, aws: AwsAccount, clock: Clock) -> None:
    token = sdk(aws.signing_key, expiry_secs=60).generate_token("f", "call-1")
    assert service.validate("call-1", "f", token).valid
    clock.advance(61 + 1)  # past the whole second the SDK rounded down to
    assert service.validate("call-1", "f", token).reason == Reason.EXPIRED


def test_service_debug_agrees_with_the_sdk(
    make_service: Callable[..., SessionService], aws: AwsAccount, clock: Clock
) -> None:
    service = make_service(debug_mode=True)
    service.create_session("root.2", {})
    minted, _ = service.mint("root.2", ["get_weather"])

    def ours(token: str, now: float) -> dict[str, Any]:
        clock.now = now  # the service's clock (make_service builds it on this one)
        return service.debug_view()(token)

    for token in (minted["get_weather"], sdk(aws.signing_key, expiry_secs=-10).generate_token("f", "c")):
        theirs = assert_debug_agrees(token, ours)
        assert theirs["valid_format"] is True
        assert (
            theirs["components"]["expiry_date"]
            == datetime.fromtimestamp(int(theirs["components"]["expiry"])).isoformat()
        )
    assert_debug_agrees(base64.urlsafe_b64encode(b"a.b.c").decode(), ours)
