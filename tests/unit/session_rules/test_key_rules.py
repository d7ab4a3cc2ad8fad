"""session_rules.keys: how long a key retired by a rotation still checks tokens, to the second."""

from __future__ import annotations

import pytest
from session_rules import keys

ROTATED_AT = 1_750_000_000.0
LIFETIME = 86_400
CACHE = 300


def test_the_window_is_the_rotation_plus_the_lifetime_plus_the_cache() -> None:
    assert keys.retired_key_valid_until(ROTATED_AT, LIFETIME, CACHE) == ROTATED_AT + 86_700
    assert keys.retired_key_valid_until(100, 10, 1) == 111  # each term counts, with its own sign
    assert keys.retired_key_valid_until(100, 1, 10) == 111
    assert keys.retired_key_valid_until(0, 0, 0) == 0


@pytest.mark.parametrize(
    ("now", "checks"),
    [
        (ROTATED_AT - 1, True),  # a clock behind the rotation's
        (ROTATED_AT, True),
        (ROTATED_AT + LIFETIME, True),
        (ROTATED_AT + LIFETIME + CACHE - 0.5, True),
        (ROTATED_AT + LIFETIME + CACHE, True),  # the last token a stale cache minted expires now: still valid
        (ROTATED_AT + LIFETIME + CACHE + 0.001, False),
        (ROTATED_AT + LIFETIME + CACHE + 1, False),
        (ROTATED_AT + 30 * 86_400, False),  # until the next rotation, Secrets Manager still labels it AWSPREVIOUS
    ],
)
def test_the_retired_key_checks_until_the_window_closes_then_never(now: float, checks: bool) -> None:
    assert keys.retired_key_checks(ROTATED_AT, now, LIFETIME, CACHE) is checks


def test_each_setting_moves_the_end_of_the_window() -> None:
    end = ROTATED_AT + 1000 + 10
    assert keys.retired_key_checks(ROTATED_AT, end, 1000, 10) is True
    assert keys.retired_key_checks(ROTATED_AT, end, 999, 10) is False  # the lifetime counts
    assert keys.retired_key_checks(ROTATED_AT, end, 1000, 9) is False  # the cache counts
    assert keys.retired_key_checks(ROTATED_AT + 1, end + 1, 1000, 10) is True  # from the rotation's time


def test_an_unknown_rotation_time_retires_the_key() -> None:
    assert keys.retired_key_checks(None, ROTATED_AT, LIFETIME, CACHE) is False
    assert keys.retired_key_checks(None, 0, LIFETIME, CACHE) is False
