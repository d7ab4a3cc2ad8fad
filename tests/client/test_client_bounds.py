"""The transport's bounds against a hostile service on loopback: deadline, Retry-After, answer size, breaker.

Each server below is bounded (it gives up after tens of seconds), so a client that fails to cut it
short fails the test rather than hanging the suite. Outcomes are asserted, never elapsed time: the
error code the call raised, and what the server saw (its answer cut off, how much of it was sent,
how many requests came).
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from session_client import RemoteSessionManager, SessionServiceError
from session_client.transport import CircuitBreaker, Transport

from harness.ports import free_port
from tests.support.stub_service import Received, Reply, StubService, serving

OK = {"valid": True}
UNAVAILABLE = {"error": "service_unavailable", "message": "retry shortly"}
MIB = 1 << 20
SETTLE_SECS = 10.0  # how long a server may take to notice that its client hung up


@pytest.fixture
def service() -> Iterator[StubService]:
    with serving(lambda _: (200, OK)) as stub:
        yield stub


def client(url: str, **options: Any) -> RemoteSessionManager:
    options.setdefault("backoff_factor", 0)
    return RemoteSessionManager(url, **options)


def validate(manager: RemoteSessionManager) -> bool:
    return manager.validate_token("call-1", "get_weather", "dG9rZW4")


def raised(call: Callable[[], object]) -> SessionServiceError:
    with pytest.raises(SessionServiceError) as caught:
        call()
    return caught.value


def settled(request: Received) -> str:
    """The server's outcome for a request, once it has one."""
    limit = time.monotonic() + SETTLE_SECS
    while request.outcome == "pending" and time.monotonic() < limit:
        time.sleep(0.02)
    return request.outcome


# -- one total deadline ------------------------------------------------------------------------


def test_a_trickled_body_cannot_hold_a_call_past_its_deadline(service: StubService) -> None:
    """A byte every 0.1 s passes every read timeout: 600 bytes would hold a call for a minute."""
    service.script = [Reply(200, {"valid": True, "reason": "x" * 560}, trickle=0.1)]
    error = raised(lambda: validate(client(service.url, timeout=(1, 2), deadline_secs=1.0)))
    assert (error.code, error.status) == ("deadline_exceeded", None)
    [request] = service.received
    assert settled(request) == "cut_off"  # the client hung up mid-answer
    assert request.sent < 600


def test_trickled_headers_cannot_hold_a_call_past_its_deadline(service: StubService) -> None:
    service.script = [Reply(200, OK, headers={"X-Padding": "p" * 500}, trickle=0.1, trickle_headers=True)]
    error = raised(lambda: validate(client(service.url, timeout=(1, 2), deadline_secs=1.0)))
    assert error.code == "deadline_exceeded"
    assert settled(service.received[0]) == "cut_off"


def test_a_service_that_never_answers_is_cut_off_at_the_deadline(service: StubService) -> None:
    service.script = [Reply(200, OK, hold=60)]
    error = raised(lambda: validate(client(service.url, timeout=(1, 30), deadline_secs=1.0)))
    assert error.code == "deadline_exceeded"
    assert settled(service.received[0]) == "cut_off"  # the request was still held when the client left


def test_the_callers_deadline_ends_the_call(service: StubService) -> None:
    """A render's budget: an absolute instant on the monotonic clock, shorter than the call's own deadline."""
    service.script = [Reply(200, OK, hold=60)]
    transport = Transport(service.url, deadline_secs=60, backoff_factor=0)
    error = raised(lambda: transport.call("POST", "/tokens/validate", {}, deadline=time.monotonic() + 0.5))
    assert error.code == "deadline_exceeded"
    assert settled(service.received[0]) == "cut_off"
    # A deadline already past sends nothing, and does not count against the service.
    for _ in range(10):
        error = raised(lambda: transport.call("POST", "/tokens/validate", {}, deadline=time.monotonic()))
        assert error.code == "deadline_exceeded" and error.unsent
    assert len(service.received) == 1 and not transport.breaker.is_open


def test_retries_stop_at_the_deadline(service: StubService) -> None:
    """Each attempt is held longer than the deadline allows: one attempt, then the deadline's error."""
    service.answer = lambda _: Reply(200, OK, hold=60)
    error = raised(lambda: validate(client(service.url, timeout=(1, 30), deadline_secs=1.0, retries=5)))
    assert error.code == "deadline_exceeded"
    assert len(service.received) == 1


def test_after_a_cut_off_the_next_call_is_answered(service: StubService) -> None:
    manager = client(service.url, timeout=(1, 2), deadline_secs=1.0)
    service.script = [Reply(200, OK, hold=60)]
    assert raised(lambda: validate(manager)).code == "deadline_exceeded"
    assert validate(manager) is True


def test_calls_within_their_deadline_keep_one_connection(service: StubService) -> None:
    """The watchdog cuts only late attempts: a connection whose answers come in time is reused."""
    manager = client(service.url, deadline_secs=30)
    for _ in range(20):
        assert validate(manager)
    assert len({request.port for request in service.received}) == 1


# -- Retry-After -------------------------------------------------------------------------------


def test_retry_after_beyond_the_deadline_is_not_waited_for(service: StubService) -> None:
    """The 503 that asks for 30 s is the answer: no sleep, no retry."""
    service.answer = lambda _: Reply(503, UNAVAILABLE, headers={"Retry-After": "30"})
    error = raised(lambda: validate(client(service.url, timeout=(1, 1), retries=2)))
    assert (error.status, error.code) == (503, "service_unavailable")
    assert len(service.received) == 1


def test_retry_after_within_the_deadline_is_honoured(service: StubService, monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr("session_client.transport.time.sleep", waits.append)
    service.script = [Reply(503, UNAVAILABLE, headers={"Retry-After": "1"})]
    assert validate(client(service.url, deadline_secs=30, retries=2)) is True
    assert waits == [1.0] and len(service.received) == 2


def test_an_http_date_retry_after_counts_too(service: StubService) -> None:
    service.answer = lambda _: Reply(503, UNAVAILABLE, headers={"Retry-After": "Fri, 31 Dec 2999 23:59:59 GMT"})
    assert raised(lambda: validate(client(service.url, retries=2))).code == "service_unavailable"
    assert len(service.received) == 1


# -- the answer's size -------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_huge_answer_is_refused_without_being_read(service: StubService, chunked: bool) -> None:
    """64 MiB of `{"valid": true, ...}`: no verdict, and most of it never left the server."""
    service.script = [Reply(200, {"valid": True}, size=64 * MIB, chunked=chunked)]
    error = raised(lambda: validate(client(service.url)))
    assert (error.code, error.status) == ("invalid_response", 200)
    [request] = service.received
    assert settled(request) == "cut_off"
    assert request.sent < 32 * MIB


def test_an_error_answer_is_bounded_too(service: StubService) -> None:
    service.script = [Reply(400, {"error": "invalid_token"}, size=8 * MIB, chunked=True)]
    assert raised(lambda: validate(client(service.url))).code == "invalid_response"


def test_the_cap_admits_an_answer_of_its_size(service: StubService) -> None:
    cap = 4096
    service.script = [Reply(200, {"valid": True}, size=cap), Reply(200, {"valid": True}, size=cap + 1)]
    manager = client(service.url, max_answer_bytes=cap)
    assert validate(manager) is True
    assert raised(lambda: validate(manager)).code == "invalid_response"


def test_the_default_cap_admits_the_services_largest_answer(service: StubService) -> None:
    """A batch mint of 64 long function names is about 70 KB."""
    tokens = {f"f{i:02d}" + "x" * 60: "t" * 1000 for i in range(64)}
    service.script = [(201, {"call_id": "c", "tokens": tokens, "expires_at": 1, "tokens_expire_at": 1})]
    assert client(service.url).create_tool_tokens("c", list(tokens)) == tokens


# -- the circuit breaker -----------------------------------------------------------------------


def test_consecutive_failures_open_the_breaker(service: StubService) -> None:
    service.answer = lambda _: (503, UNAVAILABLE)
    manager = client(service.url, retries=0, breaker_failures=3, breaker_cooldown_secs=600)
    for _ in range(3):
        assert raised(lambda: validate(manager)).code == "service_unavailable"
    error = raised(lambda: validate(manager))
    assert (error.code, error.status) == ("circuit_open", None)
    assert len(service.received) == 3  # the fourth call was not sent


def test_a_down_service_opens_the_breaker() -> None:
    manager = client(f"http://127.0.0.1:{free_port()}", retries=0, breaker_failures=2, breaker_cooldown_secs=600)
    assert [raised(lambda: validate(manager)).code for _ in range(3)] == ["unreachable", "unreachable", "circuit_open"]


def test_after_the_cool_down_a_probe_closes_it(service: StubService) -> None:
    service.script = [(503, UNAVAILABLE), (503, UNAVAILABLE)]
    transport = Transport(service.url, retries=0, breaker_failures=2, breaker_cooldown_secs=0)
    manager = RemoteSessionManager(service.url, transport=transport)
    for _ in range(2):
        raised(lambda: validate(manager))
    assert transport.breaker.is_open
    assert validate(manager) is True  # the probe
    assert not transport.breaker.is_open


def test_verdicts_never_open_the_breaker(service: StubService) -> None:
    """A refusal is the service answering: 404s and 409s keep the way open."""
    service.answer = lambda _: (404, {"error": "session_not_found", "message": "m"})
    manager = client(service.url, breaker_failures=2, breaker_cooldown_secs=600)
    for _ in range(5):
        assert raised(lambda: manager.get_session_metadata("c")).code == "session_not_found"
    assert len(service.received) == 5


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_lets_one_probe_through_then_reopens_on_its_failure() -> None:
    clock = Clock()
    breaker = CircuitBreaker(2, 30.0, clock=clock)
    for _ in range(2):
        breaker.admit()
        breaker.record(False)
    assert raised(breaker.admit).code == "circuit_open"
    clock.now += 30
    breaker.admit()  # the probe
    assert raised(breaker.admit).code == "circuit_open"  # no second call while it is out
    breaker.record(False)
    assert raised(breaker.admit).code == "circuit_open"  # reopened for a new cool-down
    clock.now += 29
    assert raised(breaker.admit).code == "circuit_open"
    clock.now += 1
    breaker.admit()
    breaker.record(True)
    breaker.admit()
    breaker.admit()  # closed: every call goes through
    assert breaker.opened == 1


def test_answers_are_asked_for_and_read_uncompressed(service: StubService) -> None:
    """A compressed answer would pass the cap compressed and grow past it in memory: none is inflated."""
    bomb = gzip.compress(b'{"valid": true, "pad": "' + b"0" * (64 * MIB) + b'"}')
    service.script = [Reply(200, bomb, headers={"Content-Encoding": "gzip"})]
    error = raised(lambda: validate(client(service.url)))
    assert (error.code, error.status) == ("invalid_response", 200)
    assert service.received[0].headers["Accept-Encoding"] == "identity"
