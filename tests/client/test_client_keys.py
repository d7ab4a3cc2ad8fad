"""The client's local validation keeps the service's key rules (session_rules), over moto's Secrets
Manager in-process: no local stack needed.

- the key a rotation retired checks tokens until AWSCURRENT's CreatedDate + the lifetime + the key
  cache, then never: the client decides as the service's KeyRing does, at every moment;
- a value that is not a key of the rotation's shape is never used: `secret_key` refuses it at once,
  a secret read by ARN is `misconfigured`.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from session_client import RemoteSessionManager, SessionServiceError
from session_client.keys import SecretKeys, StaticKeys
from session_core.keys import KeyRing
from session_rules import tokens
from session_rules.codes import Reason
from session_rules.keys import CURRENT

from harness.ports import free_port
from local.aws import random_key
from tests.support.accounts import AwsAccount

CALL = "call-keys"


def rotate(aws: AwsAccount, value: str) -> float:
    aws.secretsmanager.put_secret_value(SecretId=aws.secret_id, SecretString=value, VersionStages=[CURRENT])
    created = aws.secretsmanager.get_secret_value(SecretId=aws.secret_id, VersionStage=CURRENT)["CreatedDate"]
    return float(created.timestamp())


def manager(aws: AwsAccount, **options: Any) -> RemoteSessionManager:
    """Local validation by ARN, the key read; the base URL is one nothing listens on, so no verdict
    comes over HTTP."""
    made = RemoteSessionManager(f"http://127.0.0.1:{free_port()}", secret_arn=aws.secret_id, **options)
    assert made.ready(30)
    return made


@pytest.mark.parametrize("offset", [-3600, -1, 0, 1, 3600])
@pytest.mark.parametrize(("lifetime", "cache"), [(86400, 300), (900, 0)])
def test_the_client_keeps_the_retired_key_exactly_as_long_as_the_service(
    aws: AwsAccount, offset: int, lifetime: int, cache: int
) -> None:
    old, new = aws.signing_key.encode(), random_key()
    rotated_at = rotate(aws, new)
    now = rotated_at + lifetime + cache + offset
    ring = KeyRing(aws.secret_id, aws.secretsmanager, max_age=cache, max_token_lifetime_secs=lifetime)
    held = SecretKeys(aws.secret_id, max_age=cache, max_token_lifetime_secs=lifetime)
    assert held.wait(30)
    expected = [new.encode(), old] if offset <= 0 else [new.encode()]
    assert list(ring.candidates(now)) == list(held.candidates(now)) == expected


def test_a_retired_key_stops_validating_in_the_client(aws: AwsAccount) -> None:
    old = aws.signing_key.encode()
    rotated_at = rotate(aws, random_key())
    # The window: rotation + 3 s lifetime + no cache (CreatedDate has whole seconds: 2 s of it are left).
    held = manager(aws, key_cache_secs=0, max_token_lifetime_secs=3)
    assert held.check_token(CALL, "f", tokens.mint(old, CALL, "f", int(time.time()) + 1)).valid
    time.sleep(max(0.0, rotated_at + 3 - time.time()) + 0.1)
    late = tokens.mint(old, CALL, "f", int(time.time()) + 1)
    assert held.check_token(CALL, "f", late) == (False, Reason.BAD_SIGNATURE)


@pytest.mark.parametrize("weak", ["x", "k" * 31, "k" * 32, "k" * 63, "k" * 65, "k" * 63 + "-", "é" * 64])
def test_secret_key_refuses_a_value_that_is_not_a_key(weak: str) -> None:
    with pytest.raises(ValueError, match="64 characters of A-Z a-z 0-9") as raised:
        RemoteSessionManager("http://127.0.0.1:9", secret_key=weak)
    assert weak not in str(raised.value)
    with pytest.raises(ValueError):
        StaticKeys(weak)


def test_secret_key_takes_a_key() -> None:
    key = random_key()
    assert list(StaticKeys(key).candidates(time.time())) == [key.encode()]


@pytest.mark.parametrize("weak", ["x", "k" * 63 + "_"])
def test_a_secret_read_by_arn_that_is_not_a_key_is_misconfigured(aws: AwsAccount, weak: str) -> None:
    rotate(aws, weak)
    held = manager(aws)
    forged = tokens.mint(weak.encode(), CALL, "f", int(time.time()) + 60)
    with pytest.raises(SessionServiceError) as raised:
        held.check_token(CALL, "f", forged)
    assert raised.value.code == "misconfigured" and weak not in raised.value.message


def test_a_weak_retired_key_is_misconfigured_only_when_it_would_be_used(aws: AwsAccount) -> None:
    rotate(aws, "x")
    current = random_key()
    rotate(aws, current)
    held = manager(aws)
    assert held.check_token(CALL, "f", tokens.mint(current.encode(), CALL, "f", int(time.time()) + 60)).valid
    with pytest.raises(SessionServiceError) as raised:
        held.check_token(CALL, "f", tokens.mint(b"x", CALL, "f", int(time.time()) + 60))
    assert raised.value.code == "misconfigured" and "AWSPREVIOUS" in raised.value.message


def test_a_check_after_the_cache_expired_never_uses_a_key_retired_meanwhile(aws: AwsAccount) -> None:
    """An agent idle past `key_cache_secs` while the key was rotated out twice: its next check reads
    the secret first, so the retired key is not accepted even once. Minting does not wait."""
    leaked = aws.signing_key.encode()
    held = SecretKeys(aws.secret_id, max_age=1)
    assert held.wait(30)
    assert list(held.candidates(time.time())) == [leaked]  # read, then held
    rotate(aws, random_key())
    newest = random_key()
    rotate(aws, newest)
    time.sleep(1.1)  # the cache's max_age passes
    assert held.current() == leaked  # minting serves what is held while a background read runs
    assert leaked not in list(held.candidates(time.time()))
    assert held.current() == newest.encode()
