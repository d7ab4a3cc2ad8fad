"""Signing-key rotation (session_core.rotation) against moto's Secrets Manager.

Each rotation runs the four steps as Secrets Manager does: one ClientRequestToken,
createSecret, setSecret, testSecret, finishSecret in order. Tokens are then minted and
checked through SessionService, so "survives one rotation" is shown end to end.
"""

from __future__ import annotations

import string
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from session_core.errors import RotationError
from session_core.keys import KeyRing
from session_core.rotation import PENDING, STEPS, Rotation, rotate_step
from session_core.service import SessionService
from session_rules import limits, tokens
from session_rules.codes import Reason
from session_rules.keys import CURRENT, PREVIOUS
from signalwire.core.security.session_manager import SessionManager

from local import template
from tests.support.accounts import AwsAccount


def rotate(sm: Any, secret_id: str) -> str:
    """One full rotation, as Secrets Manager drives it; returns its version id."""
    version = str(uuid.uuid4())
    for step in STEPS:
        rotate_step(sm, {"SecretId": secret_id, "ClientRequestToken": version, "Step": step})
    return version


def key(sm: Any, secret_id: str, stage: str) -> str:
    return str(sm.get_secret_value(SecretId=secret_id, VersionStage=stage)["SecretString"])


def stages(sm: Any, secret_id: str) -> dict[str, list[str]]:
    return dict(sm.describe_secret(SecretId=secret_id)["VersionIdsToStages"])


def test_new_keys_are_shaped_like_the_templates_generated_key() -> None:
    """The template's GenerateSecretString, the rotation's GetRandomPassword and the key rule agree."""
    generated = next(iter(template.resources_of_type("AWS::SecretsManager::Secret").values()))
    spec = generated["Properties"]["GenerateSecretString"]
    assert limits.SIGNING_KEY_LENGTH == template.secret_length() == spec["PasswordLength"]
    assert spec["ExcludePunctuation"] is True and set(spec) == {"PasswordLength", "ExcludePunctuation"}
    # GetRandomPassword with ExcludePunctuation: letters and digits, which is the key rule's alphabet.
    assert limits.is_signing_key(string.ascii_letters + string.digits + "ab")
    for punctuation in string.punctuation:
        assert not limits.is_signing_key(punctuation + "a" * (limits.SIGNING_KEY_LENGTH - 1)), punctuation


def test_create_stages_one_random_pending_key_and_is_idempotent(aws: AwsAccount) -> None:
    sm, secret = aws.secretsmanager, aws.secret_id
    version = str(uuid.uuid4())
    Rotation(sm, secret, version).run("createSecret")
    pending = str(sm.get_secret_value(SecretId=secret, VersionId=version, VersionStage=PENDING)["SecretString"])
    assert limits.is_signing_key(pending)
    assert pending != aws.signing_key
    assert key(sm, secret, CURRENT) == aws.signing_key  # nothing switches before finishSecret

    Rotation(sm, secret, version).run("createSecret")  # Secrets Manager retries a step that timed out
    again = sm.get_secret_value(SecretId=secret, VersionId=version, VersionStage=PENDING)["SecretString"]
    assert again == pending
    assert len(stages(sm, secret)) == 2


def test_rotation_makes_the_new_key_current_and_the_old_one_previous(aws: AwsAccount) -> None:
    sm, secret = aws.secretsmanager, aws.secret_id
    version = rotate(sm, secret)
    new = key(sm, secret, CURRENT)
    assert new != aws.signing_key and len(new) == limits.SIGNING_KEY_LENGTH
    assert key(sm, secret, PREVIOUS) == aws.signing_key
    assert CURRENT in stages(sm, secret)[version]


def test_repeating_any_step_after_finish_changes_nothing(aws: AwsAccount) -> None:
    sm, secret = aws.secretsmanager, aws.secret_id
    version = rotate(sm, secret)
    before = (key(sm, secret, CURRENT), key(sm, secret, PREVIOUS), stages(sm, secret))
    for step in STEPS:
        Rotation(sm, secret, version).run(step)
    assert (key(sm, secret, CURRENT), key(sm, secret, PREVIOUS), stages(sm, secret)) == before


@pytest.mark.parametrize("step", ["setSecret", "testSecret", "finishSecret"])
def test_a_step_for_a_version_never_created_fails(aws: AwsAccount, step: str) -> None:
    version = str(uuid.uuid4())
    with pytest.raises(RotationError, match="never created") as raised:
        Rotation(aws.secretsmanager, aws.secret_id, version).run(step)
    assert raised.value.version == version
    assert key(aws.secretsmanager, aws.secret_id, CURRENT) == aws.signing_key


def test_a_version_that_is_neither_pending_nor_current_is_refused(aws: AwsAccount) -> None:
    sm, secret = aws.secretsmanager, aws.secret_id
    rotate(sm, secret)
    old_version = next(v for v, labels in stages(sm, secret).items() if PREVIOUS in labels)
    with pytest.raises(RotationError, match="not staged"):
        Rotation(sm, secret, old_version).run("finishSecret")
    assert key(sm, secret, PREVIOUS) == aws.signing_key


def test_unknown_steps_and_events_are_refused(aws: AwsAccount) -> None:
    with pytest.raises(RotationError, match="unknown rotation step"):
        Rotation(aws.secretsmanager, aws.secret_id, str(uuid.uuid4())).run("deleteSecret")
    with pytest.raises(RotationError, match="not a Secrets Manager rotation event"):
        rotate_step(aws.secretsmanager, {"SecretId": aws.secret_id, "Step": "createSecret"})


def _fresh(make_service: Callable[..., SessionService]) -> SessionService:
    """A service whose key ring re-reads the secret on every use (a container started now)."""
    return make_service(key_cache_secs=0)


def test_tokens_survive_one_rotation_and_the_second_retires_the_oldest_key(
    aws: AwsAccount, make_service: Callable[..., SessionService]
) -> None:
    sm, secret = aws.secretsmanager, aws.secret_id
    service = _fresh(make_service)
    service.create_session("call-rot", {})
    names = [f"fn_{i}" for i in range(8)]
    before, _ = service.mint("call-rot", names)
    key1 = aws.signing_key.encode()

    rotate(sm, secret)
    key2 = key(sm, secret, CURRENT).encode()
    service = _fresh(make_service)
    for name, token in before.items():
        assert service.validate("call-rot", name, token) == tokens.VALID, name
    after, _ = service.mint("call-rot", names)
    now = service.clock()
    for name, token in after.items():  # new tokens carry the new key's signature, not the old one's
        assert tokens.verify((key2,), "call-rot", name, token, now).valid
        assert tokens.verify((key1,), "call-rot", name, token, now).reason == Reason.BAD_SIGNATURE
        assert service.validate("call-rot", name, token).valid

    rotate(sm, secret)
    service = _fresh(make_service)
    for name, token in before.items():
        assert service.validate("call-rot", name, token).reason == Reason.BAD_SIGNATURE, name
    for name, token in after.items():
        assert service.validate("call-rot", name, token).valid, name


def test_an_agent_reading_the_rotated_secret_accepts_new_tokens_with_the_sdk(
    aws: AwsAccount, make_service: Callable[..., SessionService]
) -> None:
    rotate(aws.secretsmanager, aws.secret_id)
    service = _fresh(make_service)
    service.create_session("call-sdk", {})
    minted, _ = service.mint("call-sdk", ["lookup"])
    agent = SessionManager(secret_key=key(aws.secretsmanager, aws.secret_id, CURRENT))
    assert agent.validate_tool_token("lookup", minted["lookup"], "call-sdk")
    stale_agent = SessionManager(secret_key=aws.signing_key)
    assert not stale_agent.validate_tool_token("lookup", minted["lookup"], "call-sdk")


def test_a_warm_container_accepts_tokens_of_a_rotation_it_has_not_seen(
    aws: AwsAccount, make_service: Callable[..., SessionService]
) -> None:
    """Its cached keys are older than the rotation: a signature no cached key matches re-reads them once."""
    warm = make_service()  # key_cache_secs at its default: no re-read for minutes
    warm.create_session("call-warm", {})
    old, _ = warm.mint("call-warm", ["a"])
    assert warm.validate("call-warm", "a", old["a"]).valid  # fills the cache

    rotate(aws.secretsmanager, aws.secret_id)
    new, _ = _fresh(make_service).mint("call-warm", ["a"])
    assert warm.validate("call-warm", "a", new["a"]).valid
    assert warm.validate("call-warm", "a", old["a"]).valid


def test_bad_signatures_re_read_the_secret_at_most_once_per_interval(aws: AwsAccount) -> None:
    calls: list[str] = []
    sm = aws.secretsmanager
    sm.meta.events.register("before-call.secrets-manager.GetSecretValue", lambda **kw: calls.append("get"))
    ring = KeyRing(aws.secret_id, sm, max_age=300, refresh_interval=3600)
    ring.current(), ring.previous(time.time())
    assert len(calls) == 2
    assert ring.refresh() is False  # read again, nothing changed
    assert len(calls) == 4
    rotate(sm, aws.secret_id)
    calls.clear()
    for _ in range(5):
        assert ring.refresh() is False  # within the interval: no read, even though a rotation happened
    assert calls == []
    assert ring.current() == aws.signing_key.encode()  # still the cached key
