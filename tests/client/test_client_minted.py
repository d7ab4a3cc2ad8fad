"""The tokens a manager holds between a call's create and its create_tool_token calls."""

from __future__ import annotations

from session_client.minted import MAX_CALLS, MintedTokens
from session_rules import limits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_held_only_for_the_call_and_function_they_were_minted_for() -> None:
    held = MintedTokens(Clock())
    held.keep("a", {"f": "token-a-f"}, 1900, held.epoch("a"))
    assert held.get("a", "f") == "token-a-f"
    assert held.get("a", "g") is None
    assert held.get("b", "f") is None


def test_handed_out_only_in_the_first_half_of_their_remaining_life() -> None:
    clock = Clock()
    held = MintedTokens(clock)
    held.keep("a", {"f": "t"}, clock.now + 900, held.epoch("a"))
    clock.now += 449
    assert held.get("a", "f") == "t"
    clock.now += 2
    assert held.get("a", "f") is None


def test_a_mint_answered_after_the_call_was_dropped_is_not_held() -> None:
    """end_session drops a call's tokens; a mint already in flight must not bring them back."""
    held = MintedTokens(Clock())
    epoch = held.epoch("a")  # a mint starts...
    held.forget("a")  # ...the call is ended meanwhile...
    held.keep("a", {"f": "stale"}, 1900, epoch)  # ...and the mint's answer arrives
    assert held.get("a", "f") is None
    held.keep("a", {"f": "fresh"}, 1900, held.epoch("a"))
    assert held.get("a", "f") == "fresh"


def test_names_learned_up_to_one_batch_and_calls_held_up_to_a_bound() -> None:
    held = MintedTokens(Clock())
    for i in range(limits.MAX_BATCH + 5):
        held.learn(f"f{i}")
    assert len(held.names()) == limits.MAX_BATCH
    assert held.names(first="f3")[0] == "f3" and len(held.names(first="new")) == limits.MAX_BATCH
    for i in range(MAX_CALLS + 10):
        held.keep(f"c{i}", {"f": "t"}, 1900, held.epoch(f"c{i}"))
    assert held.get("c0", "f") is None and held.get(f"c{MAX_CALLS + 9}", "f") == "t"
