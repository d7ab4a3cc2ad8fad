"""Revocation through SessionService: an ended session's tokens stay dead, even when its call id starts again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from session_core import tokens


def test_tokens_of_an_ended_session_stay_rejected_after_the_call_id_starts_again(
    make_service: Callable[..., Any], clock: Any
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
    assert service.validate("call-1", "f", old) == tokens.Verdict(False, tokens.SESSION_ENDED)


def test_a_token_minted_in_the_second_its_session_started_is_valid(make_service: Callable[..., Any]) -> None:
    service = make_service(revocation_check=True)
    service.create_session("call-2", {})
    token = service.mint("call-2", ["f"])[0]["f"]
    assert service.validate("call-2", "f", token) == tokens.VALID


def test_without_revocation_check_the_earlier_token_still_validates(
    make_service: Callable[..., Any], clock: Any
) -> None:
    service = make_service()  # the default: stateless validation
    service.create_session("call-3", {})
    old = service.mint("call-3", ["f"])[0]["f"]
    service.end_session("call-3")
    clock.advance(5)
    service.create_session("call-3", {})
    assert service.validate("call-3", "f", old) == tokens.VALID
