"""The rotate function against pending versions AWS documents but does not describe.

RotateSecret (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html):
with RotateImmediately false (the template's RotateImmediatelyOnUpdate false), Secrets Manager tests
the rotation configuration by creating an AWSPENDING version, invoking the function's testSecret
step on it alone and removing the version again; and after a failed rotation AWSPENDING may be
attached to an empty version. What the test version holds is not documented (moto copies the
current value into it). So testSecret lets any pending version pass, logging one that holds no
key, and finishSecret never promotes anything that is not a key.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from session_core.errors import RotationError
from session_core.rotation import PENDING, STEPS
from session_rules import limits
from session_rules.keys import CURRENT, PREVIOUS

from local.aws import random_key
from tests.support.accounts import AwsAccount
from tests.support.handler_stack import HandlerStack
from tests.support.logs import LogCapture


def empty_version(aws: AwsAccount, version: str) -> None:
    """AWSPENDING on a version with no value, as RotateSecret leaves it before (or after a failed)
    createSecret. No API call makes one, so it is written into moto's backend, in moto's own shape
    (what its rotate_secret writes)."""
    from moto.secretsmanager.models import secretsmanager_backends

    backend = secretsmanager_backends["123456789012"]["us-east-1"]
    name = aws.secretsmanager.describe_secret(SecretId=aws.secret_id)["Name"]
    backend.secrets[name].versions[version] = {
        "createdate": int(time.time()),
        "version_id": version,
        "version_stages": [PENDING],
    }


def text_version(text: str) -> Callable[[Any, str], None]:
    def put(aws: AwsAccount, version: str) -> None:
        aws.secretsmanager.put_secret_value(
            SecretId=aws.secret_id, ClientRequestToken=version, SecretString=text, VersionStages=[PENDING]
        )

    return put


def binary_version(aws: AwsAccount, version: str) -> None:
    aws.secretsmanager.put_secret_value(
        SecretId=aws.secret_id, ClientRequestToken=version, SecretBinary=b"\x00" * 64, VersionStages=[PENDING]
    )


NOT_KEYS: dict[str, Callable[[Any, str], None]] = {
    "empty": empty_version,
    "binary": binary_version,
    "one character": text_version("x"),
    "31 letters": text_version("a" * 31),
    "63 letters": text_version("a" * 63),
    "65 letters": text_version("a" * 65),
    "64 with punctuation": text_version("a" * 63 + "!"),
    "64 non-ASCII letters": text_version("é" * 64),
    "a JSON document": text_version('{"key": "' + "a" * 64 + '"}'),
    "a key and a newline": text_version("a" * 64 + "\n"),
}


def step(stack: HandlerStack, aws: AwsAccount, name: str, version: str) -> None:
    assert stack.invoke("rotate", {"Step": name, "SecretId": aws.secret_id, "ClientRequestToken": version}) is None


def secret(aws: AwsAccount, stage: str) -> str:
    return str(aws.secretsmanager.get_secret_value(SecretId=aws.secret_id, VersionStage=stage)["SecretString"])


def configuration_test(stack: HandlerStack, aws: AwsAccount, put: Callable[[Any, str], None]) -> str:
    """What Secrets Manager does for RotateImmediately false: a pending version, testSecret alone, removal."""
    version = str(uuid.uuid4())
    put(aws, version)
    step(stack, aws, "testSecret", version)
    aws.secretsmanager.update_secret_version_stage(
        SecretId=aws.secret_id, VersionStage=PENDING, RemoveFromVersionId=version
    )
    return version


@pytest.mark.parametrize("kind", NOT_KEYS)
def test_the_configuration_test_passes_on_a_pending_version_without_a_key_and_says_so(
    stack: HandlerStack, aws: AwsAccount, logs: LogCapture, kind: str
) -> None:
    version = configuration_test(stack, aws, NOT_KEYS[kind])
    warnings = [r for r in logs.records() if r.get("level") == "WARNING" and r.get("version") == version]
    assert len(warnings) == 1 and "testSecret" in warnings[0]["message"], logs.records()
    assert secret(aws, CURRENT) == aws.signing_key  # nothing changed
    # and a rotation afterwards runs as usual
    rotated = str(uuid.uuid4())
    for name in STEPS:
        step(stack, aws, name, rotated)
    assert limits.is_signing_key(secret(aws, CURRENT)) and secret(aws, PREVIOUS) == aws.signing_key


def test_the_configuration_test_on_a_copy_of_the_current_key_passes_quietly(
    stack: HandlerStack, aws: AwsAccount, logs: LogCapture
) -> None:
    """moto's pending version for RotateImmediately false holds the current value: a key, tested as one."""
    version = configuration_test(stack, aws, text_version(aws.signing_key))
    assert not [r for r in logs.records() if r.get("level") == "WARNING"], logs.records()
    assert secret(aws, CURRENT) == aws.signing_key
    assert PENDING not in aws.secretsmanager.describe_secret(SecretId=aws.secret_id)["VersionIdsToStages"][version]


@pytest.mark.parametrize("kind", NOT_KEYS)
def test_finish_never_promotes_a_pending_version_that_is_not_a_key(
    stack: HandlerStack, aws: AwsAccount, kind: str
) -> None:
    stack.create("call-pending")
    before = stack.mint("call-pending", "lookup")
    version = str(uuid.uuid4())
    NOT_KEYS[kind](aws, version)
    step(stack, aws, "testSecret", version)  # lets it pass (logged)
    with pytest.raises(RotationError, match="not promoted") as refused:
        stack.invoke("rotate", {"Step": "finishSecret", "SecretId": aws.secret_id, "ClientRequestToken": version})
    assert refused.value.version == version
    stages = aws.secretsmanager.describe_secret(SecretId=aws.secret_id)["VersionIdsToStages"]
    assert stages[version] == [PENDING] and secret(aws, CURRENT) == aws.signing_key
    stack.reset()  # a new container still mints and validates with the current key
    assert stack.validate("call-pending", "lookup", before).body == {"valid": True}
    assert stack.validate("call-pending", "lookup", stack.mint("call-pending", "lookup")).body == {"valid": True}


def test_a_rotation_whose_pending_key_was_replaced_is_not_finished(stack: HandlerStack, aws: AwsAccount) -> None:
    """createSecret staged a key, then the version's value went bad: finish checks what it promotes."""
    version = str(uuid.uuid4())
    step(stack, aws, "createSecret", version)
    step(stack, aws, "setSecret", version)
    step(stack, aws, "testSecret", version)
    weak = base64.b64encode(b"k" * 8).decode()
    aws.secretsmanager.put_secret_value(
        SecretId=aws.secret_id, ClientRequestToken=str(uuid.uuid4()), SecretString=weak, VersionStages=[PENDING]
    )
    moved = next(
        v
        for v, labels in aws.secretsmanager.describe_secret(SecretId=aws.secret_id)["VersionIdsToStages"].items()
        if PENDING in labels
    )
    with pytest.raises(RotationError, match="not promoted"):
        step(stack, aws, "finishSecret", moved)
    assert secret(aws, CURRENT) == aws.signing_key


def test_a_good_pending_key_is_tested_and_promoted(stack: HandlerStack, aws: AwsAccount, logs: LogCapture) -> None:
    version = str(uuid.uuid4())
    key = random_key()
    text_version(key)(aws, version)
    step(stack, aws, "testSecret", version)
    step(stack, aws, "finishSecret", version)
    assert secret(aws, CURRENT) == key and secret(aws, PREVIOUS) == aws.signing_key
    assert not [r for r in logs.records() if r.get("level") == "WARNING"]
