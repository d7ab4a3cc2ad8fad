"""What a manager holding the key remembers of the calls it mints for (session_client.local.LocalCalls)."""

from __future__ import annotations

import re

from session_client.local import LocalCalls


def test_one_start_covers_the_tokens_minted_within_its_margin() -> None:
    calls = LocalCalls()
    incarnation, start = calls.mint_plan("a", 1000, 60)  # type: ignore[misc]
    assert start and re.fullmatch(r"[0-9a-f]{8}", incarnation)
    assert calls.mint_plan("a", 1001, 60) == (incarnation, False)  # the render goes on over a second
    assert calls.mint_plan("a", 1060, 60) == (incarnation, False)
    assert calls.mint_plan("a", 1061, 60) == (incarnation, True)  # beyond: another start, the same incarnation
    assert calls.mint_plan("b", 1000, 60)[0] != incarnation  # type: ignore[index]  # each call its own


def test_a_start_not_queued_is_queued_at_the_next_mint() -> None:
    calls = LocalCalls()
    incarnation, _ = calls.mint_plan("a", 1000, 60)  # type: ignore[misc]
    calls.uncover("a", incarnation)
    assert calls.mint_plan("a", 1000, 60) == (incarnation, True)
    calls.uncover("a", "00000000")  # another incarnation's: not this call's start
    assert calls.mint_plan("a", 1000, 60) == (incarnation, False)


def test_an_ended_call_mints_no_more_until_it_restarts_with_another_incarnation() -> None:
    calls = LocalCalls()
    first, _ = calls.mint_plan("a", 1000)  # type: ignore[misc]
    calls.end("a")
    assert calls.ended("a") and calls.mint_plan("a", 1000) is None
    second, start = calls.mint_plan("a", 1000, restart=True)  # type: ignore[misc]
    assert start and second != first and not calls.ended("a")
    calls.end("a", first)  # a late refusal of the earlier start ends nothing now
    assert not calls.ended("a")
    calls.end("never-seen")
    assert calls.mint_plan("never-seen", 1000) is None


def test_the_calls_remembered_are_bounded() -> None:
    calls = LocalCalls(capacity=3)
    first, _ = calls.mint_plan("c0", 1000)  # type: ignore[misc]
    for i in range(1, 4):
        calls.mint_plan(f"c{i}", 1000)
    again, start = calls.mint_plan("c0", 1000)  # type: ignore[misc]
    assert start and again != first  # forgotten: started again, with another incarnation the session accepts


def test_a_restart_always_takes_a_new_incarnation_and_queues_its_start() -> None:
    """The call may have been ended elsewhere: a restart naming the ended session's incarnation
    would be refused, so each one picks a new incarnation, ended here or not."""
    calls = LocalCalls()
    first, _ = calls.mint_plan("a", 1000, 60)  # type: ignore[misc]
    second, start = calls.mint_plan("a", 1000, 60, restart=True)  # type: ignore[misc]
    assert start and second != first
    assert calls.mint_plan("a", 1000, 60) == (second, False)  # later mints keep the restarted one


def test_an_unaccepted_incarnation_queues_no_more_starts() -> None:
    calls = LocalCalls()
    incarnation, _ = calls.mint_plan("a", 1000, 60)  # type: ignore[misc]
    assert not calls.unaccept("a", "00000000")  # another incarnation's refusal: nothing to mark
    assert calls.unaccept("a", incarnation) and not calls.unaccept("a", incarnation)  # told once
    assert calls.mint_plan("a", 5000, 60) == (incarnation, False)  # minted still, no start that would be refused
    assert not calls.ended("a")
