"""Transport: retries on 502/503/504 and connection errors, timeouts, errors without a JSON code, reuse.

A scripted HTTP endpoint plays a failing gateway (the local stack cannot be made to answer 503
or hang on demand); what the client does with each answer is the subject here.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from session_client import RemoteSessionManager, SessionServiceError

from local.aws import free_port

# One body that satisfies every route's reader.
OK = {"valid": True, "ended": True, "deleted": True, "metadata": {}, "call_id": "c", "token": "t", "tokens": {}}
UNAVAILABLE = (503, {"error": "service_unavailable", "message": "retry shortly"})


@dataclass
class Scripted:
    url: str
    script: list[tuple[int, Any]]  # answers in order (status, JSON body or raw bytes); then 200 OK
    seen: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, client port
    bodies: list[bytes] = field(default_factory=list)  # request bodies, in order
    delay: float = 0.0


@pytest.fixture
def gateway() -> Iterator[Scripted]:
    state = Scripted("", [])

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is visible

        def _answer(self) -> None:
            state.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            state.seen.append((self.command, self.path, self.client_address[1]))
            if state.delay:
                time.sleep(state.delay)
            status, body = state.script.pop(0) if state.script else (200, OK)
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def fast(url: str, **options: Any) -> RemoteSessionManager:
    return RemoteSessionManager(url, backoff_factor=0, **options)


CALLS: dict[str, Callable[[RemoteSessionManager], Any]] = {
    "POST": lambda c: c.validate_token("c", "f", "dG9r"),
    "GET": lambda c: c.get_session_metadata("c"),
    "PATCH": lambda c: c.set_session_metadata("c", "k", 1),
}


@pytest.mark.parametrize("method", sorted(CALLS))
def test_repeatable_methods_are_retried_on_503(gateway: Scripted, method: str) -> None:
    gateway.script = [UNAVAILABLE, (502, b"Bad Gateway")]
    CALLS[method](fast(gateway.url, retries=2))
    assert [m for m, _, _ in gateway.seen] == [method] * 3


def test_delete_is_not_repeated_after_an_answer(gateway: Scripted) -> None:
    """A repeated DELETE would report False for the session the first one ended."""
    gateway.script = [UNAVAILABLE]
    with pytest.raises(SessionServiceError):
        fast(gateway.url, retries=2).end_session("c")
    assert [m for m, _, _ in gateway.seen] == ["DELETE"]


def test_create_without_an_id_sends_one_so_a_retry_cannot_start_a_second_session(gateway: Scripted) -> None:
    gateway.script = [UNAVAILABLE, (201, {"call_id": "x", "expires_at": 1})]
    fast(gateway.url, retries=2).create_session()
    first, retried = gateway.bodies
    assert first == retried and json.loads(first)["call_id"]


def test_retries_are_bounded(gateway: Scripted) -> None:
    gateway.script = [UNAVAILABLE] * 5
    with pytest.raises(SessionServiceError) as error:
        fast(gateway.url, retries=1).validate_token("c", "f", "dG9r")
    assert (error.value.status, error.value.code) == (503, "service_unavailable")
    assert len(gateway.seen) == 2


def test_other_errors_are_not_retried(gateway: Scripted) -> None:
    gateway.script = [(500, {"error": "internal_error", "message": "logged"})]
    with pytest.raises(SessionServiceError) as error:
        fast(gateway.url).get_session_metadata("c")
    assert (error.value.status, error.value.code, error.value.message) == (500, "internal_error", "logged")
    assert len(gateway.seen) == 1


def test_an_error_without_a_code_gets_one_from_its_status(gateway: Scripted) -> None:
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
def test_api_gateways_own_answers_name_the_gateway(gateway: Scripted, status: int, message: str, code: str) -> None:
    gateway.script = [(status, {"message": message})]
    with pytest.raises(SessionServiceError) as error:
        fast(gateway.url, auto_create=True).generate_token("f", "c")
    assert (error.value.status, error.value.code, error.value.message) == (status, code, message)
    assert [m for m, _, _ in gateway.seen] == ["POST"]  # a gateway 404 creates no session


def test_the_gateways_503_is_retried(gateway: Scripted) -> None:
    """Its integration timeout (or no capacity): a repeatable request is sent again."""
    unavailable = (503, {"message": "Service Unavailable"})
    gateway.script = [unavailable]
    assert fast(gateway.url, retries=1).get_session_metadata("c") == {}
    assert len(gateway.seen) == 2
    gateway.script, gateway.seen = [unavailable] * 3, []
    with pytest.raises(SessionServiceError) as error:
        fast(gateway.url, retries=1).get_session_metadata("c")
    assert (error.value.status, error.value.code, error.value.message) == (
        503,
        "gateway_unavailable",
        "Service Unavailable",
    )
    assert len(gateway.seen) == 2


def test_a_hung_service_times_out_and_is_retried(gateway: Scripted) -> None:
    gateway.delay = 1.0
    with pytest.raises(SessionServiceError) as error:
        fast(gateway.url, retries=1, timeout=(2.0, 0.1)).validate_token("c", "f", "dG9r")
    assert error.value.status is None and error.value.code == "unreachable"
    assert len(gateway.seen) == 2


def test_an_unreachable_service_raises() -> None:
    with pytest.raises(SessionServiceError) as error:
        fast(f"http://127.0.0.1:{free_port()}", retries=1).create_session()
    assert error.value.status is None and error.value.code == "unreachable"


def test_one_connection_serves_many_calls(gateway: Scripted) -> None:
    client = fast(gateway.url)
    for _ in range(5):
        client.validate_token("c", "f", "dG9r")
    assert len({port for _, _, port in gateway.seen}) == 1


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
def test_an_answer_that_is_not_the_service_s_is_no_verdict(gateway: Scripted, method: str, answer: Any) -> None:
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
def test_a_400_that_is_not_the_service_s_verdict_on_an_input_raises(gateway: Scripted, answer: Any) -> None:
    gateway.script = [answer]
    with pytest.raises(SessionServiceError):
        fast(gateway.url, retries=0).check_token("c", "f", "dG9r")


def test_the_service_s_400_on_an_input_is_a_false_verdict(gateway: Scripted) -> None:
    gateway.script = [(400, {"error": "invalid_token", "message": "m"})]
    assert fast(gateway.url, retries=0).check_token("c", "f", "dG9r") == (False, "invalid_token")
