"""Revocation through SessionService: an ended session's tokens stay dead, even when its call id starts again."""

from __future__ import annotations

from collections.abc import Callable

from session_core.service import SessionService
from session_rules import tokens
from session_rules.codes import Reason

from tests.support.clock import Clock


def test_tokens_of_an_ended_session_stay_rejected_after_the_call_id_starts_again(
    make_service: Callable[..., SessionService], clock: Clock
) -> None:
    service = make_service(revocation_check=True)
    service.create_session("call-1", {})
    old = service.mint("call-1", ["f"])[0]["f"]
    assert service.validate("call-1", "f", old).valid
    assert service.end_session("call-1")
    clock.advance(5)
    _, created = service.create_session("call-1", {})
    assert created  # a fresh session over the ended one
    new = service.mint("call-1", ["f"])[0]["f"]
    assert service.validate("call-1", "f", new) == tokens.VALID
    assert service.validate("call-1", "f", old) == tokens.Verdict(False, Reason.SESSION_ENDED)


def test_sessions_are_told_apart_by_incarnation_not_by_time(
    make_service: Callable[..., SessionService],
) -> None:
    service = make_service(revocation_check=True)  # the clock stands still throughout
    service.create_session("call-4", {})
    old = service.mint("call-4", ["f"])[0]["f"]
    assert service.end_session("call-4")
    assert service.create_session("call-4", {})[1]
    assert service.validate("call-4", "f", old) == tokens.Verdict(False, Reason.SESSION_ENDED)
    assert service.validate("call-4", "f", service.mint("call-4", ["f"])[0]["f"]) == tokens.VALID


def test_a_token_living_longer_than_the_validators_setting_is_the_session_s(
    make_service: Callable[..., SessionService], clock: Clock
) -> None:
    """A token minted with a longer lifetime than the validating side's setting is still the session's."""
    long_lived = make_service(revocation_check=True, token_expiry_secs=3600)
    validating = make_service(revocation_check=True, token_expiry_secs=60)
    long_lived.create_session("call-5", {})
    clock.advance(30)
    token = long_lived.mint("call-5", ["f"])[0]["f"]
    assert validating.validate("call-5", "f", token) == tokens.VALID


def test_under_revocation_a_token_minted_elsewhere_is_not_the_session_s(
    make_service: Callable[..., SessionService],
) -> None:
    """A token signed with the shared secret outside the service carries no incarnation."""
    service = make_service(revocation_check=True)
    service.create_session("call-6", {})
    foreign = tokens.mint(service.keys.current(), "call-6", "f", int(service.clock()) + 60)
    assert make_service().validate("call-6", "f", foreign) == tokens.VALID  # without revocation: valid
    assert service.validate("call-6", "f", foreign) == tokens.Verdict(False, Reason.SESSION_ENDED)


def test_a_token_minted_for_the_active_session_is_valid(make_service: Callable[..., SessionService]) -> None:
    service = make_service(revocation_check=True)
    service.create_session("call-2", {})
    token = service.mint("call-2", ["f"])[0]["f"]
    assert service.validate("call-2", "f", token) == tokens.VALID


def test_without_revocation_check_the_earlier_token_still_validates(
    make_service: Callable[..., SessionService], clock: Clock
) -> None:
    service = make_service()  # the default: stateless validation
    service.create_session("call-3", {})
    old = service.mint("call-3", ["f"])[0]["f"]
    service.end_session("call-3")
    clock.advance(5)
    service.create_session("call-3", {})
    assert service.validate("call-3", "f", old) == tokens.VALID


def test_a_token_of_any_accepted_incarnation_is_the_session_s(make_service: Callable[..., SessionService]) -> None:
    """Clients holding the key mint with incarnations of their own, which the session accepts."""
    service = make_service(revocation_check=True)
    key = service.keys.current()
    expiry = int(service.clock()) + 60

    def minted(incarnation: str) -> str:
        return tokens.mint(key, "call-7", "f", expiry, tokens.new_nonce(incarnation))

    service.create_session("call-7", {}, restart=False, incarnation="00000001")
    service.create_session("call-7", {}, restart=False, incarnation="00000002")
    for incarnation in ("00000001", "00000002"):
        assert service.validate("call-7", "f", minted(incarnation)) == tokens.VALID
    assert service.validate("call-7", "f", minted("00000003")) == tokens.Verdict(False, Reason.SESSION_ENDED)
    assert service.validate("call-7", "f", service.mint("call-7", ["f"])[0]["f"]) == tokens.VALID
    service.end_session("call-7")
    assert service.validate("call-7", "f", minted("00000001")) == tokens.Verdict(False, Reason.SESSION_ENDED)


def test_a_session_outlives_the_tokens_minted_for_it(make_service: Callable[..., SessionService], clock: Clock) -> None:
    """A one-hour call on a stack whose sessions live ten minutes keeps its tools for the hour."""
    service = make_service(revocation_check=True, session_ttl_secs=600)
    service.create_session("call-8", {}, restart=False, incarnation="0000000a", lifetime=3600)
    local = tokens.mint(service.keys.current(), "call-8", "f", int(clock()) + 3600, tokens.new_nonce("0000000a"))
    clock.advance(1800)
    minted, expiry = service.mint("call-8", ["f"], 3600)
    clock.advance(1799)
    assert service.validate("call-8", "f", local) == tokens.VALID
    clock.advance(1800)
    assert expiry > clock() and service.validate("call-8", "f", minted["f"]) == tokens.VALID
