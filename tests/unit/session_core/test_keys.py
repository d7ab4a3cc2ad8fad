"""session_core.keys.KeyRing over (moto's) Secrets Manager: caching, rotation, outages."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from session_core.config import CLIENT_CONFIG
from session_core.errors import KeyUnavailable
from session_core.keys import KeyRing
from session_core.service import SessionService
from session_rules import tokens
from session_rules.codes import Reason
from signalwire.core.security.session_manager import SessionManager

from local.aws import random_key
from tests.support.accounts import AwsAccount


class CallCounter:
    """Counts API calls a client makes, through botocore's before-call event."""

    def __init__(self, client: Any, event: str) -> None:
        self.calls = 0
        client.meta.events.register(event, self._count)

    def _count(self, **_: Any) -> None:
        self.calls += 1


def secrets_calls(aws: AwsAccount) -> CallCounter:
    return CallCounter(aws.secretsmanager, "before-call.secrets-manager.GetSecretValue")


def rotate(aws: AwsAccount, new_key: str) -> None:
    """A finished rotation: the new value becomes AWSCURRENT, the old one AWSPREVIOUS."""
    aws.secretsmanager.put_secret_value(SecretId=aws.secret_id, SecretString=new_key, VersionStages=["AWSCURRENT"])


NEW_KEY, THIRD_KEY = random_key(), random_key()


def test_one_secrets_manager_call_across_many_validations(service: SessionService, aws: AwsAccount) -> None:
    counter = secrets_calls(aws)
    dynamodb = CallCounter(aws.dynamodb, "before-call.dynamodb")
    token = SessionManager(secret_key=aws.signing_key).generate_token("f", "call-1")
    for _ in range(200):
        assert service.validate("call-1", "f", token).valid
    # Rejections that never reach the signature check need no key beyond the cached one either.
    assert service.validate("call-1", "g", token).reason == Reason.FUNCTION_MISMATCH
    assert service.validate("call-1", "f", "junk").reason == Reason.MALFORMED
    assert counter.calls == 1
    assert dynamodb.calls == 0  # stateless validate (RevocationCheck off) never touches the table


def test_minting_and_validating_share_the_cached_key(service: SessionService, aws: AwsAccount) -> None:
    counter = secrets_calls(aws)
    service.create_session("call-1", {})
    for _ in range(20):
        minted, _ = service.mint("call-1", ["f", "g"])
        assert service.validate("call-1", "g", minted["g"]).valid
    assert counter.calls == 1


def test_the_key_is_the_secret_strings_utf8_bytes(keyring: KeyRing, aws: AwsAccount) -> None:
    assert keyring.current() == aws.signing_key.encode()
    assert keyring.previous(time.time()) is None  # never rotated


def test_a_token_minted_before_a_rotation_still_validates(
    make_service: Callable[..., SessionService], aws: AwsAccount
) -> None:
    before = make_service()
    before.create_session("call-1", {})
    old_token = before.mint("call-1", ["f"])[0]["f"]
    rotate(aws, NEW_KEY)

    after = make_service()  # a container started after the rotation
    assert after.validate("call-1", "f", old_token).valid  # through AWSPREVIOUS
    new_token = after.mint("call-1", ["f"])[0]["f"]
    assert SessionManager(secret_key=NEW_KEY).validate_token("call-1", "f", new_token)
    assert not SessionManager(secret_key=aws.signing_key).validate_token("call-1", "f", new_token)
    assert after.validate("call-1", "f", new_token).valid

    rotate(aws, THIRD_KEY)  # the next rotation retires the first key
    latest = make_service()
    assert latest.validate("call-1", "f", old_token).reason == Reason.BAD_SIGNATURE
    assert latest.validate("call-1", "f", new_token).valid


def test_a_container_whose_cache_predates_a_rotation_accepts_new_tokens(
    make_service: Callable[..., SessionService], aws: AwsAccount
) -> None:
    warm = make_service()
    warm.create_session("call-1", {})
    assert warm.validate("call-1", "f", warm.mint("call-1", ["f"])[0]["f"]).valid  # keys now cached
    rotate(aws, NEW_KEY)
    fresh_token = make_service().mint("call-1", ["f"])[0]["f"]
    assert warm.validate("call-1", "f", fresh_token).valid


def test_the_cache_respects_max_age(aws: AwsAccount) -> None:
    counter = secrets_calls(aws)
    cached = KeyRing(aws.secret_id, aws.secretsmanager, max_age=300)
    for _ in range(10):
        cached.current()
    assert counter.calls == 1

    counter.calls = 0
    uncached = KeyRing(aws.secret_id, aws.secretsmanager, max_age=0)
    for _ in range(10):
        uncached.current()
    assert counter.calls == 10

    short = KeyRing(aws.secret_id, aws.secretsmanager, max_age=1)
    assert short.current() == aws.signing_key.encode()
    rotate(aws, NEW_KEY)
    assert short.current() == aws.signing_key.encode()  # still within max_age: the cached value
    time.sleep(1.1)  # let max_age pass (the Powertools cache reads the wall clock)
    assert short.current() == NEW_KEY.encode()
    assert short.previous(time.time()) == aws.signing_key.encode()


def test_the_last_good_key_serves_when_secrets_manager_fails(aws: AwsAccount) -> None:
    ring = KeyRing(aws.secret_id, aws.secretsmanager, max_age=0)  # every use re-reads
    key = ring.current()
    assert ring.previous(time.time()) is None
    aws.secretsmanager.delete_secret(SecretId=aws.secret_id, ForceDeleteWithoutRecovery=True)
    counter = secrets_calls(aws)
    assert ring.current() == key
    assert ring.previous(time.time()) is None
    assert counter.calls >= 2  # it did try Secrets Manager, and fell back


def test_validation_survives_a_secrets_manager_outage(
    make_service: Callable[..., SessionService], aws: AwsAccount
) -> None:
    service = make_service(key_cache_secs=0)
    service.create_session("call-1", {})
    token = service.mint("call-1", ["f"])[0]["f"]
    aws.secretsmanager.delete_secret(SecretId=aws.secret_id, ForceDeleteWithoutRecovery=True)
    assert service.validate("call-1", "f", token).valid
    assert service.mint("call-1", ["g"])[0]["g"]


def test_nothing_cached_and_no_secret_is_key_unavailable(
    aws: AwsAccount, make_service: Callable[..., SessionService]
) -> None:
    aws.secretsmanager.delete_secret(SecretId=aws.secret_id, ForceDeleteWithoutRecovery=True)
    with pytest.raises(KeyUnavailable, match="signing key AWSCURRENT unavailable") as raised:
        KeyRing(aws.secret_id, aws.secretsmanager, max_age=300).current()
    assert raised.value.stage == "AWSCURRENT"
    service = make_service()
    with pytest.raises(KeyUnavailable):
        service.validate("call-1", "f", tokens.mint(b"k" * 64, "call-1", "f", int(time.time()) + 60))


@pytest.fixture
def dead_endpoint() -> Iterator[str]:
    """A local address where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


def test_unreachable_secrets_manager_with_nothing_cached_is_key_unavailable(dead_endpoint: str) -> None:
    no_retry = {**CLIENT_CONFIG, "retries": {"mode": "standard", "max_attempts": 1}}  # the backoff only adds time
    client = boto3.client("secretsmanager", endpoint_url=dead_endpoint, config=Config(**no_retry))
    ring = KeyRing("any-secret", client, max_age=300)
    with pytest.raises(KeyUnavailable):
        ring.current()
    with pytest.raises(KeyUnavailable):
        ring.previous(time.time())
