"""The signing key through the handlers: a value that is not a key is an error log and a 500, never
a key; and the compromised-key procedure of docs/operations.md retires a leaked key.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from session_client import RemoteSessionManager
from session_core.rotation import STEPS
from session_rules.codes import Reason
from session_rules.keys import CURRENT, PREVIOUS
from signalwire.core.security.session_manager import SessionManager

from harness.ports import free_port
from tests.support.accounts import AwsAccount
from tests.support.handler_stack import HandlerStack
from tests.support.logs import LogCapture


def put_current(aws: AwsAccount, value: str) -> None:
    aws.secretsmanager.put_secret_value(SecretId=aws.secret_id, SecretString=value, VersionStages=[CURRENT])


def assert_misconfigured(reply: Any) -> None:
    assert (reply.status, reply.body["error"]) == (500, "misconfigured"), reply
    assert "Traceback" not in reply.raw["body"]


@pytest.mark.parametrize("weak", ["x", "k" * 31, "k" * 63, "k" * 63 + "_", "0123456789abcdef" * 4 + "=="])
def test_a_secret_that_is_not_a_key_is_a_logged_500_and_forges_nothing(
    stack: HandlerStack, aws: AwsAccount, logs: LogCapture, weak: str
) -> None:
    stack.create("c-1")
    put_current(aws, weak)
    stack.reset()
    forged = SessionManager(secret_key=weak).generate_token("f", "c-1")  # the SDK would accept it with this secret
    assert_misconfigured(stack.validate("c-1", "f", forged))
    assert_misconfigured(stack.request("POST", "/sessions/c-1/tokens", {"function": "f"}))
    assert_misconfigured(stack.request("POST", "/sessions", {"call_id": "c-2", "functions": ["f"]}))
    # A refusal changes nothing: c-2 was not started by the create that could not mint.
    assert stack.request("POST", "/sessions/c-2/tokens", {"function": "f"}).body["error"] == "session_not_found"
    # Routes that need no key still work.
    assert stack.request("GET", "/sessions/c-1/metadata").status == 200
    errors = [r for r in logs.records() if r["level"] == "ERROR"]
    assert len(errors) == 3 and all(r["code"] == "misconfigured" for r in errors)
    assert all("AWSCURRENT value is not 64 characters of A-Z a-z 0-9" in r["detail"] for r in errors)
    assert weak not in "\n".join(str(r) for r in logs.records())  # the value is never logged


def rotate(stack: HandlerStack, aws: AwsAccount) -> None:
    """What `aws secretsmanager rotate-secret` makes Secrets Manager do: the rotate function's four
    steps under one new version id, in order (the emulated account runs no rotation itself)."""
    version = str(uuid.uuid4())
    for step in STEPS:
        assert stack.invoke("rotate", {"Step": step, "SecretId": aws.secret_id, "ClientRequestToken": version}) is None
    assert CURRENT in aws.secretsmanager.describe_secret(SecretId=aws.secret_id)["VersionIdsToStages"][version]


def test_the_compromised_key_procedure_retires_a_leaked_key(
    make_stack: Callable[..., HandlerStack], aws: AwsAccount
) -> None:
    """docs/operations.md, "A leaked signing key": rotate, rotate again, wait KEY_CACHE_SECS.

    Containers (and clients) started before the procedure hold the leaked key until their key cache
    expires; here that is one second, so the wait is real but short.
    """
    stack = make_stack(KEY_CACHE_SECS="1")
    leaked = aws.signing_key
    attacker = SessionManager(secret_key=leaked)
    stack.create("call-leak")
    before = stack.mint("call-leak", "lookup")  # minted with the leaked key, before the procedure
    forged = attacker.generate_token("lookup", "call-leak")
    forged_elsewhere = attacker.generate_token("transfer", "call-other")
    agent = RemoteSessionManager(f"http://127.0.0.1:{free_port()}", secret_arn=aws.secret_id, key_cache_secs=1)
    assert agent.ready(30)
    for token in (before, forged):
        assert stack.validate("call-leak", "lookup", token).body == {"valid": True}  # warm caches, both
        assert agent.check_token("call-leak", "lookup", token) == (True, None)

    rotate(stack, aws)
    time.sleep(1.1)  # not needed to retire the leaked key: lets `between` be minted with the first new key
    between = stack.mint("call-leak", "lookup")
    rotate(stack, aws)
    assert leaked not in (
        aws.secretsmanager.get_secret_value(SecretId=aws.secret_id, VersionStage=stage)["SecretString"]
        for stage in (CURRENT, PREVIOUS)
    )
    time.sleep(1.1)  # KEY_CACHE_SECS: the warm container's and the agent's caches expire

    after = stack.mint("call-leak", "lookup")
    for call_id, function, token in (
        ("call-leak", "lookup", before),
        ("call-leak", "lookup", forged),
        ("call-other", "transfer", forged_elsewhere),
    ):
        refused = {"valid": False, "reason": Reason.BAD_SIGNATURE}
        assert stack.validate(call_id, function, token).body == refused, token
        assert agent.check_token(call_id, function, token) == (False, Reason.BAD_SIGNATURE)
    for token in (between, after):  # tokens of the new keys keep working
        assert stack.validate("call-leak", "lookup", token).body == {"valid": True}
        assert agent.check_token("call-leak", "lookup", token) == (True, None)
    stack.reset()  # and new containers agree
    assert stack.validate("call-leak", "lookup", forged).body["reason"] == Reason.BAD_SIGNATURE
