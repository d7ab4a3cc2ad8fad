"""The rotate function, invoked with the four events Secrets Manager sends, then the API's view of it.

Old tokens keep validating through the validate handler; after a container restart
(caches cleared) the token handler mints with the new key; a second rotation retires
the first key. The rotation logs name the step and version, never a key.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from session_core.errors import RotationError
from session_core.rotation import STEPS
from session_rules.keys import CURRENT, PREVIOUS
from signalwire.core.security.session_manager import SessionManager

from tests.support.accounts import AwsAccount
from tests.support.handler_stack import HandlerStack
from tests.support.logs import LogCapture


def rotate(stack: HandlerStack, aws: AwsAccount) -> str:
    """What Secrets Manager does on schedule: one ClientRequestToken, the four steps in order."""
    version = str(uuid.uuid4())
    for step in STEPS:
        event = {"Step": step, "SecretId": aws.secret_id, "ClientRequestToken": version}
        assert stack.invoke("rotate", event) is None
    return version


def secret(aws: AwsAccount, stage: str) -> str:
    return str(aws.secretsmanager.get_secret_value(SecretId=aws.secret_id, VersionStage=stage)["SecretString"])


def test_the_template_wires_the_rotate_function_without_routes(stack: HandlerStack) -> None:
    assert stack.functions["rotate"].routes == [] and stack.functions["rotate"].schedule is None


def test_rotation_keeps_old_tokens_valid_and_new_tokens_use_the_new_key(
    stack: HandlerStack, aws: AwsAccount, logs: LogCapture
) -> None:
    stack.create("call-r1")
    old = {name: stack.mint("call-r1", name) for name in ("lookup", "transfer")}
    first_key = aws.signing_key

    version = rotate(stack, aws)
    second_key = secret(aws, CURRENT)
    assert second_key != first_key and secret(aws, PREVIOUS) == first_key

    for name, token in old.items():  # the warm validate container
        assert stack.validate("call-r1", name, token).body == {"valid": True}, name
    stack.reset()  # new containers
    for name, token in old.items():
        assert stack.validate("call-r1", name, token).body == {"valid": True}, name
    new = stack.mint("call-r1", "lookup")
    # the SDK, not our own signing code, judges which key signed it
    assert SessionManager(secret_key=second_key).validate_token("call-r1", "lookup", new)
    assert not SessionManager(secret_key=first_key).validate_token("call-r1", "lookup", new)
    assert stack.validate("call-r1", "lookup", new).body == {"valid": True}

    rotate(stack, aws)
    stack.reset()
    for name, token in old.items():
        assert stack.validate("call-r1", name, token).body == {"valid": False, "reason": "bad_signature"}, name
    assert stack.validate("call-r1", "lookup", new).body == {"valid": True}

    text = "\n".join(str(record) for record in logs.records())
    assert version in text  # the rotation was logged
    for key in (first_key, second_key, secret(aws, CURRENT)):
        assert key not in text


def test_repeated_events_are_harmless(stack: HandlerStack, aws: AwsAccount) -> None:
    version = rotate(stack, aws)
    current = secret(aws, CURRENT)
    for step in STEPS:  # Secrets Manager retries a step whose answer it did not get
        stack.invoke("rotate", {"Step": step, "SecretId": aws.secret_id, "ClientRequestToken": version})
    assert secret(aws, CURRENT) == current and secret(aws, PREVIOUS) == aws.signing_key


@pytest.mark.parametrize(
    "event",
    [
        {"Step": "finishSecret", "ClientRequestToken": "3f1c1a8e-0000-4000-8000-000000000000"},
        {"Step": "dropSecret", "ClientRequestToken": "3f1c1a8e-0000-4000-8000-000000000000"},
        {"Step": "finishSecret"},
    ],
)
def test_an_event_that_is_not_a_rotation_in_progress_fails_and_changes_nothing(
    stack: HandlerStack, aws: AwsAccount, event: dict[str, Any]
) -> None:
    with pytest.raises(RotationError):
        stack.invoke("rotate", {"SecretId": aws.secret_id, **event})
    assert secret(aws, CURRENT) == aws.signing_key
