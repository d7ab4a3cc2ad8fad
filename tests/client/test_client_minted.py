"""The tokens a manager holds between a call's create and its create_tool_token calls."""

from __future__ import annotations

from session_client.minted import HOLD_SECS, MAX_CALLS, MintedTokens
from session_rules import limits


class Clocks:
    """A wall clock and a monotonic one, moved together (or apart, for skew)."""

    def __init__(self) -> None:
        self.wall_now = 1_000_000.0
        self.mono_now = 50.0

    def wall(self) -> float:
        return self.wall_now

    def mono(self) -> float:
        return self.mono_now

    def advance(self, seconds: float) -> None:
        self.wall_now += seconds
        self.mono_now += seconds


def held(clocks: Clocks) -> MintedTokens:
    return MintedTokens(wall=clocks.wall, monotonic=clocks.mono)


def test_held_only_for_the_call_and_function_they_were_minted_for() -> None:
    clocks = Clocks()
    tokens = held(clocks)
    tokens.keep("a", {"f": "token-a-f"}, clocks.wall_now + 900, tokens.epoch("a"))
    assert tokens.take("a", "f") == "token-a-f"
    assert tokens.take("a", "g") is None
    assert tokens.take("b", "f") is None


def test_held_for_a_render_s_moments_not_the_token_s_life() -> None:
    """Another instance may end the call meanwhile: a held token is handed out only briefly."""
    clocks = Clocks()
    tokens = held(clocks)
    tokens.keep("a", {"f": "t"}, clocks.wall_now + 900, tokens.epoch("a"))
    clocks.advance(HOLD_SECS - 0.1)
    assert tokens.take("a", "f") == "t"
    clocks.advance(0.2)
    assert tokens.take("a", "f") is None


def test_a_short_lived_token_is_held_for_half_its_remaining_life() -> None:
    clocks = Clocks()
    tokens = held(clocks)
    tokens.keep("a", {"f": "t"}, clocks.wall_now + 4, tokens.epoch("a"))
    clocks.advance(1.9)
    assert tokens.take("a", "f") == "t"
    clocks.advance(0.2)
    assert tokens.take("a", "f") is None


def test_a_clock_that_runs_ahead_holds_nothing_and_one_that_lags_holds_no_longer() -> None:
    clocks = Clocks()
    ahead = held(clocks)
    clocks.wall_now += 3600  # this machine thinks the token already expired
    ahead.keep("a", {"f": "t"}, clocks.wall_now - 3600 + 900, ahead.epoch("a"))
    assert ahead.take("a", "f") is None
    clocks.wall_now -= 7200  # an hour behind: the token looks two hours from expiry
    behind = held(clocks)
    behind.keep("a", {"f": "t"}, clocks.wall_now + 3600 + 900, behind.epoch("a"))
    clocks.mono_now += HOLD_SECS + 0.1
    assert behind.take("a", "f") is None


def test_a_mint_answered_after_the_call_was_forgotten_is_not_held() -> None:
    """end_session forgets a call; a mint already in flight must not bring its tokens back."""
    clocks = Clocks()
    tokens = held(clocks)
    epoch = tokens.epoch("a")  # a mint starts...
    tokens.forget("a")  # ...the call is ended meanwhile...
    tokens.keep("a", {"f": "stale"}, clocks.wall_now + 900, epoch)  # ...and the mint's answer arrives
    assert tokens.take("a", "f") is None
    tokens.keep("a", {"f": "fresh"}, clocks.wall_now + 900, tokens.epoch("a"))
    assert tokens.take("a", "f") == "fresh"


def test_a_mint_asks_only_for_what_the_call_lacks() -> None:
    clocks = Clocks()
    tokens = held(clocks)
    for name in ("f", "g", "h"):
        tokens.learn(name)
    tokens.keep("a", {"f": "t"}, clocks.wall_now + 900, tokens.epoch("a"))
    assert tokens.wanted("a", "h") == ["h", "g"]
    tokens.keep("a", {"g": "u", "h": "v"}, clocks.wall_now + 900, tokens.epoch("a"))  # beside, not instead
    assert [tokens.take("a", n) for n in ("f", "g", "h")] == ["t", "u", "v"]
    tokens.drop("a")
    assert tokens.take("a", "f") is None and tokens.wanted("a", "f") == ["f", "g", "h"]


def test_names_learned_up_to_one_batch_and_calls_held_up_to_a_bound() -> None:
    clocks = Clocks()
    tokens = held(clocks)
    for i in range(limits.MAX_BATCH + 5):
        tokens.learn(f"f{i}")
    assert len(tokens.names()) == limits.MAX_BATCH
    assert tokens.wanted("x", "new")[0] == "new" and len(tokens.wanted("x", "new")) == limits.MAX_BATCH
    for i in range(MAX_CALLS + 10):
        tokens.keep(f"c{i}", {"f": "t"}, clocks.wall_now + 900, tokens.epoch(f"c{i}"))
    assert tokens.take("c0", "f") is None and tokens.take(f"c{MAX_CALLS + 9}", "f") == "t"
