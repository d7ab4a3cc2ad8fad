"""Transport: retries on 502/503/504 and connection errors, timeouts, errors without a JSON code, reuse.

A scripted HTTP endpoint plays a failing gateway (the local stack cannot be made to answer 503
or hang on demand); what the client does with each answer is the subject here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from session_client import RemoteSessionManager, ServiceUnavailable, SessionServiceError
from session_client.transport import Transport

from harness.ports import free_port
from tests.support.stub_service import StubService, serving

# One body that satisfies every route's reader.
OK = {"valid": True, "ended": True, "deleted": True, "metadata": {}, "call_id": "c", "token": "t", "tokens": {}}
UNAVAILABLE = (503, {"error": "service_unavailable", "message": "retry shortly"})


@pytest.fixture
def gateway() -> Iterator[StubService]:
    """A service that answers OK unless a test scripts other answers."""
    with serving(lambda _: (200, OK)) as stub:
        yield stub


def fast(url: str, **options: Any) -> RemoteSessionManager:
    return RemoteSessionManager(url, backoff_factor=0, **options)


CALLS: dict[str, Callable[[RemoteSessionManager], Any]] = {
    "POST": lambda c: c.validate_token("c", "f", "dG9r"),
    "GET": lambda c: c.get_session_metadata("c"),
    "PATCH": lambda c: c.set_session_metadata("c", "k", 1),
}


@pytest.mark.parametrize("method", sorted(CALLS))
def test_repeatable_methods_are_retried_on_503(gateway: StubService, method: str) -> None:
    gateway.script = [UNAVAILABLE, (502, b"Bad Gateway")]
    CALLS[method](fast(gateway.url, retries=2))
    assert [r.method for r in gateway.received] == [method] * 3


def test_delete_is_not_repeated_after_an_answer(gateway: StubService) -> None:
    """A repeated DELETE would report False for the session the first one ended."""
    gateway.script = [UNAVAILABLE]
    with pytest.raises(SessionServiceError):
        fast(gateway.url, retries=2).end_session("c")
    assert [r.method for r in gateway.received] == ["DELETE"]


def test_create_without_an_id_sends_one_so_a_retry_cannot_start_a_second_session(gateway: StubService) -> None:
    gateway.script = [UNAVAILABLE, (201, {"call_id": "x", "expires_at": 1})]
    fast(gateway.url, retries=2).create_session()
    first, retried = (r.body for r in gateway.received)
    assert first == retried and json.loads(first)["call_id"]


def test_retries_are_bounded(gateway: StubService) -> None:
    gateway.script = [UNAVAILABLE] * 5
    with pytest.raises(SessionServiceError) as error:
        fast(gateway.url, retries=1).validate_token("c", "f", "dG9r")
    assert (error.value.status, error.value.code) == (503, "service_unavailable")
    assert len(gateway.received) == 2


def test_other_errors_are_not_retried(gateway: StubService) -> None:
    gateway.script = [(500, {"error": "internal_error", "message": "logged"})]
    with pytest.raises(SessionServiceError) as error:
        fast(gateway.url).get_session_metadata("c")
    assert (error.value.status, error.value.code, error.value.message) == (500, "internal_error", "logged")
    assert len(gateway.received) == 1


def test_an_error_without_a_code_gets_one_from_its_status(gateway: StubService) -> None:
    gateway.script = [(418, {"detail": "teapot"}), (400, b"not json")]
    for status in (418, 400):
        with pytest.raises(SessionServiceError) as error:
            fast(gateway.url).get_session_metadata("c")
        assert (error.value.status, error.value.code) == (status, f"http_{status}")


@pytest.mark.parametrize(
    ("status", "message", "code"),
    [
        (403, "Forbidden", "gateway_forbidden"),  # a bad SigV4 signature
        (404, "Not Found", "gateway_not_found"),  # no route: never the service's session_not_found
        (413, "Request Entity Too Large", "gateway_request_too_large"),
        (500, "Internal Server Error", "gateway_internal_error"),  # the function failed
        (418, "I'm a teapot", "gateway_418"),
    ],
)
def test_api_gateways_own_answers_name_the_gateway(gateway: StubService, status: int, message: str, code: str) -> None:
    gateway.script = [(status, {"message": message})]
    with pytest.raises(SessionServiceError) as error:
        fast(gateway.url, auto_create=True).generate_token("f", "c")
    assert (error.value.status, error.value.code, error.value.message) == (status, code, message)
    assert [r.method for r in gateway.received] == ["POST"]  # a gateway 404 creates no session


def test_the_gateways_503_is_retried(gateway: StubService) -> None:
    """Its integration timeout (or no capacity): a repeatable request is sent again."""
    unavailable = (503, {"message": "Service Unavailable"})
    gateway.script = [unavailable]
    assert fast(gateway.url, retries=1).get_session_metadata("c") == {}
    assert len(gateway.received) == 2
    gateway.script, gateway.received = [unavailable] * 3, []
    with pytest.raises(SessionServiceError) as error:
        fast(gateway.url, retries=1).get_session_metadata("c")
    assert (error.value.status, error.value.code, error.value.message) == (
        503,
        "gateway_unavailable",
        "Service Unavailable",
    )
    assert len(gateway.received) == 2


def test_a_hung_service_times_out_and_is_retried(gateway: StubService) -> None:
    gateway.delay = 1.0
    with pytest.raises(SessionServiceError) as error:
        fast(gateway.url, retries=1, timeout=(2.0, 0.1)).validate_token("c", "f", "dG9r")
    assert error.value.status is None and error.value.code == "unreachable"
    assert len(gateway.received) == 2


def test_an_unreachable_service_raises() -> None:
    with pytest.raises(SessionServiceError) as error:
        fast(f"http://127.0.0.1:{free_port()}", retries=1).create_session()
    assert error.value.status is None and error.value.code == "unreachable"


def test_one_connection_serves_many_calls(gateway: StubService) -> None:
    client = fast(gateway.url)
    for _ in range(5):
        client.validate_token("c", "f", "dG9r")
    assert len({r.port for r in gateway.received}) == 1


# Answers no service gives: a wrong base_url, a proxy's or captive portal's page, a redirect.
NOT_THE_SERVICE = [
    (200, b"<html>welcome</html>"),
    (200, []),
    (201, {}),
    (200, {"valid": "false", "ended": "no", "deleted": 1, "metadata": [], "call_id": 7, "tokens": {}}),
    (302, b""),
]
EVERY_METHOD: dict[str, Callable[[RemoteSessionManager], Any]] = {
    "check_token": lambda c: c.check_token("c", "f", "dG9r"),
    "end_session": lambda c: c.end_session("c"),
    "create_session": lambda c: c.create_session("c"),
    "activate_session": lambda c: c.activate_session("c"),
    "generate_token": lambda c: c.generate_token("f", "c"),
    "get_session_metadata": lambda c: c.get_session_metadata("c"),
    "set_session_metadata": lambda c: c.set_session_metadata("c", "k", 1),
    "delete_session_metadata": lambda c: c.delete_session_metadata("c"),
}


@pytest.mark.parametrize("answer", NOT_THE_SERVICE, ids=["html", "list", "empty", "mistyped", "redirect"])
@pytest.mark.parametrize("method", sorted(EVERY_METHOD))
def test_an_answer_that_is_not_the_service_s_is_no_verdict(gateway: StubService, method: str, answer: Any) -> None:
    """Raised, never read as False or True: a wrong URL must not pass or refuse every call silently."""
    status, body = answer
    gateway.script = [(status, body)] * 3
    with pytest.raises(SessionServiceError) as caught:
        EVERY_METHOD[method](fast(gateway.url, retries=0))
    assert caught.value.code in {"invalid_response", "http_302"}, caught.value


@pytest.mark.parametrize(
    "answer",
    [(400, {"message": "Bad Request"}), (400, b"<html>bad</html>"), (400, {"error": "something_else", "message": "m"})],
)
def test_a_400_that_is_not_the_service_s_verdict_on_an_input_raises(gateway: StubService, answer: Any) -> None:
    gateway.script = [answer]
    with pytest.raises(SessionServiceError):
        fast(gateway.url, retries=0).check_token("c", "f", "dG9r")


def test_the_service_s_400_on_an_input_is_a_false_verdict(gateway: StubService) -> None:
    gateway.script = [(400, {"error": "invalid_token", "message": "m"})]
    assert fast(gateway.url, retries=0).check_token("c", "f", "dG9r") == (False, "invalid_token")


def test_a_transport_given_is_the_one_every_call_goes_through(gateway: StubService) -> None:
    transport = Transport(gateway.url, retries=0)
    with pytest.raises(ValueError, match="session or transport"):
        RemoteSessionManager(gateway.url, transport=transport, session=requests.Session())
    manager = RemoteSessionManager(gateway.url, transport=transport, retries=5)  # the transport's own options
    gateway.answer = lambda _: UNAVAILABLE
    with pytest.raises(ServiceUnavailable):
        manager.get_session_metadata("call-1")
    assert len(gateway.received) == 1  # its retries=0, not the manager's 5
