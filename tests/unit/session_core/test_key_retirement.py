"""The key ring's two key rules, over (moto's) Secrets Manager:

- the key a rotation retired (AWSPREVIOUS) checks tokens only until AWSCURRENT's CreatedDate +
  MaxTokenLifetimeSecs + the key cache, then never, whatever Secrets Manager still labels it;
- a secret value that is not a key of the rotation's shape is never used to mint or check
  (Misconfigured: the handlers' error log and 500).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from session_core.errors import Misconfigured
from session_core.keys import KeyRing
from session_core.service import SessionService
from session_rules import limits, tokens
from session_rules.codes import Reason
from session_rules.keys import CURRENT

from local.aws import random_key
from tests.support.accounts import AwsAccount
from tests.support.clock import Clock

WEAK = [
    "x",
    "k" * 31,  # under 32 bytes
    "k" * 32,  # 32 bytes, but not the rotation's shape
    "k" * 63,
    "k" * 65,
    "k" * 63 + "-",  # base64url's alphabet is not the key's
    "k" * 63 + " ",
    "k" * 64 + "\n",
    "é" * 64,
    "",
]


def rotate(aws: AwsAccount, new_key: str) -> float:
    """A finished rotation; returns AWSCURRENT's CreatedDate, the rotation's time."""
    aws.secretsmanager.put_secret_value(SecretId=aws.secret_id, SecretString=new_key, VersionStages=[CURRENT])
    return float(
        aws.secretsmanager.get_secret_value(SecretId=aws.secret_id, VersionStage=CURRENT)["CreatedDate"].timestamp()
    )


def forged(key: bytes, now: float, call_id: str = "call-1", function: str = "f") -> str:
    """A token signed with `key`, otherwise valid at `now` (alive a minute more)."""
    return tokens.mint(key, call_id, function, int(now) + 60)


@pytest.mark.parametrize(("lifetime", "cache"), [(86400, 300), (3600, 60), (900, 0)])
def test_the_retired_key_checks_tokens_until_rotation_plus_lifetime_plus_cache_then_never(
    aws: AwsAccount, make_service: Callable[..., SessionService], clock: Clock, lifetime: int, cache: int
) -> None:
    old = aws.signing_key.encode()
    new_key = random_key().encode()
    rotated_at = rotate(aws, new_key.decode())
    until = rotated_at + lifetime + cache
    clock.now = rotated_at
    service = make_service(max_token_lifetime_secs=lifetime, key_cache_secs=cache)
    assert service.validate("call-1", "f", forged(new_key, clock.now)).valid  # keys read, and cached from here on

    # The last token a stale cache could mint with the old key: minted at rotation + cache, living
    # the longest lifetime there is. It is valid to its last second.
    clock.now = until
    last = tokens.mint(old, "call-1", "f", int(until))
    assert service.validate("call-1", "f", last) == tokens.VALID
    assert service.validate("call-1", "f", forged(old, clock.now)) == tokens.VALID

    clock.now = until + 1  # a second later the old key checks nothing, in this warm container too
    assert service.validate("call-1", "f", forged(old, clock.now)).reason == Reason.BAD_SIGNATURE
    fresh = make_service(max_token_lifetime_secs=lifetime, key_cache_secs=cache)
    assert fresh.validate("call-1", "f", forged(old, clock.now)).reason == Reason.BAD_SIGNATURE
    assert service.validate("call-1", "f", forged(new_key, clock.now)) == tokens.VALID  # the current key: no window


def test_the_retired_key_is_not_even_read_after_its_window(aws: AwsAccount, clock: Clock) -> None:
    rotated_at = rotate(aws, random_key())
    calls: list[str] = []
    aws.secretsmanager.meta.events.register(
        "before-call.secrets-manager.GetSecretValue",
        lambda params, **_: calls.append(json.loads(params["body"])["VersionStage"]),
    )
    ring = KeyRing(aws.secret_id, aws.secretsmanager, max_age=300, max_token_lifetime_secs=900)
    assert ring.previous(rotated_at + 1200 + 1) is None
    assert calls == [CURRENT]
    assert ring.previous(rotated_at + 1200) == aws.signing_key.encode()


def test_an_unknown_rotation_time_retires_the_previous_key(aws: AwsAccount, clock: Clock) -> None:
    """Without AWSCURRENT's CreatedDate no window can be computed: the retired key checks nothing."""

    def drop_created(parsed: dict[str, Any], **_: Any) -> None:
        parsed.pop("CreatedDate", None)

    rotate(aws, random_key())
    aws.secretsmanager.meta.events.register("after-call.secrets-manager.GetSecretValue", drop_created)
    ring = KeyRing(aws.secret_id, aws.secretsmanager, max_age=300)
    assert ring.previous(clock.now) is None
    old = forged(aws.signing_key.encode(), clock.now)
    assert tokens.verify(ring.candidates(clock.now), "call-1", "f", old, clock.now).reason == Reason.BAD_SIGNATURE


def test_the_key_ring_reads_the_creation_date_moto_and_aws_give_per_version(aws: AwsAccount) -> None:
    """get_secret_value answers CreatedDate for the version asked for, not the secret's."""
    first = aws.secretsmanager.get_secret_value(SecretId=aws.secret_id, VersionStage=CURRENT)["CreatedDate"]
    rotated_at = rotate(aws, random_key())
    previous = aws.secretsmanager.get_secret_value(SecretId=aws.secret_id, VersionStage="AWSPREVIOUS")["CreatedDate"]
    assert previous == first and previous.timestamp() <= rotated_at


@pytest.mark.parametrize("weak", WEAK)
def test_a_weak_current_key_is_never_used_to_mint_or_check(
    aws: AwsAccount, make_service: Callable[..., SessionService], clock: Clock, weak: str
) -> None:
    assert not limits.is_signing_key(weak)
    service = make_service()
    service.create_session("call-1", {})
    good = service.mint("call-1", ["f"])[0]["f"]
    if weak:
        rotate(aws, weak)
    else:  # Secrets Manager refuses an empty SecretString: a binary secret has none either
        aws.secretsmanager.put_secret_value(SecretId=aws.secret_id, SecretBinary=b"k" * 64)
    service = make_service()
    with pytest.raises(Misconfigured) as raised:
        service.mint("call-1", ["f"])
    # what is wrong, never the value itself
    assert raised.value.message == (
        "the signing secret's AWSCURRENT value is not 64 characters of A-Z a-z 0-9: never used as a key"
    )
    with pytest.raises(Misconfigured):
        service.validate("call-1", "f", forged(weak.encode(), clock.now))
    with pytest.raises(Misconfigured):
        service.validate("call-1", "f", good)


@pytest.mark.parametrize("weak", ["x", "k" * 63, "k" * 63 + "_"])
def test_a_weak_retired_key_is_never_used_to_check_but_the_current_one_is(
    aws: AwsAccount, make_service: Callable[..., SessionService], clock: Clock, weak: str
) -> None:
    rotate(aws, weak)
    rotated_at = rotate(aws, random_key())
    service = make_service()
    current = aws.secretsmanager.get_secret_value(SecretId=aws.secret_id, VersionStage=CURRENT)["SecretString"]
    assert service.validate("call-1", "f", forged(current.encode(), clock.now)) == tokens.VALID
    with pytest.raises(Misconfigured, match="AWSPREVIOUS"):  # it would be needed: no verdict without it
        service.validate("call-1", "f", forged(weak.encode(), clock.now))
    clock.now = rotated_at + service.config.max_token_lifetime_secs + service.config.key_cache_secs + 1
    assert service.validate("call-1", "f", forged(weak.encode(), clock.now)).reason == Reason.BAD_SIGNATURE


def test_a_weak_value_read_once_is_no_key_during_an_outage_either(aws: AwsAccount) -> None:
    """The outage fallback serves the last value read, and a value that is not a key stays refused."""
    ring = KeyRing(aws.secret_id, aws.secretsmanager, max_age=0)
    assert ring.current() == aws.signing_key.encode()
    rotate(aws, "x")
    with pytest.raises(Misconfigured):
        ring.current()
    aws.secretsmanager.delete_secret(SecretId=aws.secret_id, ForceDeleteWithoutRecovery=True)
    with pytest.raises(Misconfigured):
        ring.current()


def test_going_back_to_an_old_key_takes_a_new_version_not_moved_labels(
    aws: AwsAccount, make_service: Callable[..., SessionService], clock: Clock
) -> None:
    """The rotation's time is AWSCURRENT's CreatedDate. Moving AWSCURRENT back onto an old version
    dates the "rotation" to that version's creation, so the key it displaces may stop checking at
    once; putting the old value as a new version dates it now. docs/operations.md says which to do."""
    sm = aws.secretsmanager
    first = sm.get_secret_value(SecretId=aws.secret_id, VersionStage=CURRENT)
    first_created = first["CreatedDate"].timestamp()
    second = random_key()
    rotate(aws, second)
    second_version = sm.get_secret_value(SecretId=aws.secret_id, VersionStage=CURRENT)["VersionId"]
    window = limits.DEFAULT_MAX_TOKEN_LIFETIME_SECS + 300
    clock.now = first_created + window + 0.5  # just past a window dated from the first version

    # Labels moved back: the displaced key's window is dated from the old version, and closed.
    sm.update_secret_version_stage(
        SecretId=aws.secret_id,
        VersionStage=CURRENT,
        MoveToVersionId=first["VersionId"],
        RemoveFromVersionId=second_version,
    )
    moved_back = make_service()
    assert moved_back.validate("call-1", "f", forged(second.encode(), clock.now)).reason == Reason.BAD_SIGNATURE

    # The old value put as a new version, a second later: the displaced key keeps its whole window.
    sm.update_secret_version_stage(
        SecretId=aws.secret_id,
        VersionStage=CURRENT,
        MoveToVersionId=second_version,
        RemoveFromVersionId=first["VersionId"],
    )
    time.sleep(1.1)  # CreatedDate has whole seconds
    restored_at = rotate(aws, aws.signing_key)
    assert restored_at + window > clock.now
    put_back = make_service()
    assert put_back.validate("call-1", "f", forged(second.encode(), clock.now)) == tokens.VALID
    assert put_back.validate("call-1", "f", forged(aws.signing_key.encode(), clock.now)) == tokens.VALID
