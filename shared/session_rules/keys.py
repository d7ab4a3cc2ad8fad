"""How long a key retired by a rotation still checks tokens. Pure: the service's key ring and the
clients' local validation (Python here, TypeScript alike) apply this one rule.

Secrets Manager keeps the key before the last rotation as AWSPREVIOUS until the next rotation, 30
days later by default; validating with it all that time would make a rotation useless against a
leaked key. A token legitimately minted with the retired key can outlive the rotation by at most:

- the key cache: a container (or client) that read the keys just before the rotation goes on
  minting with the retired key until its cache expires, `key_cache_secs` after the rotation;
- the longest lifetime a token may have, `max_token_lifetime_secs` (validation refuses longer).

So the retired key checks tokens until `rotated_at + max_token_lifetime_secs + key_cache_secs`, and
never after. `rotated_at` is AWSCURRENT's CreatedDate: when the rotation made the new key.
"""

from __future__ import annotations

# Secrets Manager's version stages of the signing key.
CURRENT = "AWSCURRENT"
PREVIOUS = "AWSPREVIOUS"

# How long a reader (a function's container, a client in key mode) keeps the keys it read before
# reading them again; the service's KEY_CACHE_SECS setting overrides it, and a client must use the
# service's value, since the retired key's window below counts it.
KEY_CACHE_SECS = 300
# At most one forced re-read per this many seconds, when a token's signature matches no key held:
# a rotation is noticed at once, and a flood of forged tokens costs one read per interval.
REFRESH_INTERVAL_SECS = 5.0


def retired_key_valid_until(rotated_at: float, max_token_lifetime_secs: float, key_cache_secs: float) -> float:
    """The last moment (epoch seconds) a key retired at `rotated_at` may check a token."""
    return rotated_at + max_token_lifetime_secs + key_cache_secs


def retired_key_checks(
    rotated_at: float | None, now: float, max_token_lifetime_secs: float, key_cache_secs: float
) -> bool:
    """Whether the retired key may still check a token at `now`; never when the rotation's time is unknown."""
    if rotated_at is None:
        return False
    return now <= retired_key_valid_until(rotated_at, max_token_lifetime_secs, key_cache_secs)
