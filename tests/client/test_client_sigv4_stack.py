"""The client's SigV4 against the local stack checking signatures as the deployed API does (AUTH=iam)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from botocore.credentials import Credentials
from session_client import RemoteSessionManager, SessionServiceError

from harness.served import ServedStack
from local.aws import REGION

TESTING = Credentials("testing", "testing", "testing")  # moto's temporary credentials, session token included


def test_a_signed_client_runs_a_call(
    iam_stack: ServedStack, connect: Callable[..., RemoteSessionManager], call_id: str
) -> None:
    with connect(iam_stack.base_url, sign=True, credentials=TESTING, region=REGION) as client:
        assert client.signed
        client.create_session(call_id, {"caller": "+15551234567"})
        token = client.generate_token("get_weather", call_id)
        assert client.validate_tool_token("get_weather", token, call_id)
        assert client.set_session_metadata(call_id, "step", "greeting")
        assert client.get_session_metadata(call_id) == {"caller": "+15551234567", "step": "greeting"}
        assert client.end_session(call_id)


def test_the_environment_credentials_sign_too(
    iam_stack: ServedStack, connect: Callable[..., RemoteSessionManager]
) -> None:
    # tests/conftest.py puts testing / testing (and moto's session token) in the environment.
    with connect(iam_stack.base_url, sign=True, region=REGION) as client:
        assert client.create_session("call-env-signed") == "call-env-signed"


@pytest.mark.parametrize(
    "options",
    [
        {},  # a loopback URL goes unsigned by default
        {"sign": True, "credentials": Credentials("testing", "not-the-secret", "testing"), "region": REGION},
        {"sign": True, "credentials": TESTING, "region": "eu-west-1"},
        {"sign": True, "credentials": Credentials("testing", "testing"), "region": REGION},
    ],
    ids=["unsigned", "wrong secret", "wrong region", "no session token"],
)
def test_an_unsigned_or_wrongly_signed_client_is_refused_by_the_gateway(
    iam_stack: ServedStack, connect: Callable[..., RemoteSessionManager], options: dict[str, object], call_id: str
) -> None:
    with connect(iam_stack.base_url, **options) as client, pytest.raises(SessionServiceError) as refused:
        client.create_session(call_id)
    assert (refused.value.status, refused.value.code) == (403, "gateway_forbidden")
    # No function ran: the session was never started.
    with connect(iam_stack.base_url, sign=True, credentials=TESTING, region=REGION) as client:
        assert client.get_session_metadata(call_id) == {}
        assert not client.end_session(call_id)
