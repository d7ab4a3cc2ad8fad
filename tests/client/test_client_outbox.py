"""The background sender on its own: per-call order, retries, refusals, a full queue, close and exit.

A scripted `send` stands for the service here; the manager's use of it against the real stack is
in test_client_key_mode.py.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from session_client import SessionServiceError
from session_client.errors import service_error
from session_client.outbox import Job, Outbox, OutboxStats, no_verdict
from session_client.transport import body_of

from tests.support.stub_service import StubService, serving

UNAVAILABLE = service_error("service_unavailable", "retry shortly", 503)
UNREACHABLE = service_error("unreachable", "connection refused")
ENDED = service_error("session_ended", "ended", 409)


class Service:
    """A send() that records what it got (call, what, attempt) and answers as scripted per job."""

    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []
        self.failures: dict[str, list[Exception]] = {}  # "call what" -> errors to raise, in turn
        self.gate = threading.Event()
        self.gate.set()
        self.sending = threading.Event()  # set once a worker has taken a job and is sending it
        self.lock = threading.Lock()

    def __call__(self, job: Job, deadline: float) -> None:
        self.sending.set()
        self.gate.wait(10)
        assert deadline > time.monotonic()
        with self.lock:
            call = str(json.loads(job.body)["call"]) if job.body else job.path
            self.got.append((call, job.what))
            failures = self.failures.get(f"{call} {job.what}")
            failure = failures.pop(0) if failures else None
        if failure is not None:
            raise failure


@pytest.fixture
def service() -> Service:
    return Service()


@pytest.fixture
def outbox(service: Service) -> Iterator[Outbox]:
    box = Outbox(service, backoff=(0.001, 0.01), retry_secs=5.0)
    yield box
    box.close(5.0)


def job(call: str, what: str, **extra: Any) -> Job:
    return Job("POST", f"/{call}/{what}", body_of({"call": call, **extra}), what)


def test_each_call_s_requests_go_in_order_and_calls_do_not_wait_for_each_other(
    outbox: Outbox, service: Service
) -> None:
    service.failures = {"a start": [UNAVAILABLE, UNREACHABLE]}  # the first call's start needs three tries
    outbox.put("a", job("a", "start"))
    for i in range(5):
        outbox.put("a", job("a", f"write-{i}"))
    outbox.put("b", job("b", "start"))
    assert outbox.wait(None, time.monotonic() + 10)
    sent_a = [what for call, what in service.got if call == "a"]
    assert sent_a == ["start", "start", "start", *(f"write-{i}" for i in range(5))]
    assert ("b", "start") in service.got
    assert outbox.stats == OutboxStats(queued=7, sent=7, retries=2)


def test_a_verdict_is_final_and_told_to_the_job(
    outbox: Outbox, service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    refusals: list[str] = []
    service.failures = {"a start": [ENDED]}
    outbox.put("a", Job("POST", "/a", body_of({"call": "a"}), "start", lambda exc: refusals.append(exc.code)))
    outbox.put("a", job("a", "end"))
    assert outbox.wait(None, time.monotonic() + 10)
    assert service.got == [("a", "start"), ("a", "end")]  # not sent again; the next one goes on
    assert refusals == ["session_ended"]
    assert outbox.stats == OutboxStats(queued=2, sent=1, refused=1)
    assert "refused the start for a" in caplog.text


def test_no_verdict_within_retry_secs_is_given_up_logged_and_counted(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    box = Outbox(service, backoff=(0.001, 0.005), retry_secs=0.05)
    service.failures = {"a start": [UNREACHABLE] * 10_000}
    with caplog.at_level(logging.ERROR, logger="session_client"):
        box.put("a", job("a", "start"))
        box.put("a", job("a", "metadata"))
        assert box.wait(None, time.monotonic() + 10)
    stats = box.stats
    assert stats.failed == 1 and stats.sent == 1 and stats.retries >= 1 and stats.pending == 0
    assert "start for a not sent, given up" in caplog.text
    box.close(1)


def test_a_full_queue_refuses_logs_and_counts(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    service.gate.clear()  # nothing is answered: the queue fills
    box = Outbox(service, capacity=3)
    assert all(box.put(f"c{i}", job(f"c{i}", "start")) for i in range(3))
    with caplog.at_level(logging.ERROR, logger="session_client"):
        assert box.put("c9", job("c9", "start")) is False
    assert box.stats.dropped == 1 and box.stats.pending == 3
    assert "queue full (3)" in caplog.text
    service.gate.set()
    box.close(5)
    assert box.stats == OutboxStats(queued=3, sent=3, dropped=1)


def test_the_same_request_queued_twice_before_it_is_sent_is_sent_once(service: Service) -> None:
    service.gate.clear()
    box = Outbox(service)
    box.put("a", job("a", "start"))  # taken by a worker: in flight
    assert service.sending.wait(10)
    assert box.put("a", job("a", "start"))  # in flight already: queued again (the first may be answered before)
    assert box.put("a", job("a", "start"))  # the same as the last one waiting: not again
    assert box.put("a", job("a", "start", metadata={"k": 1}))  # another request
    service.gate.set()
    box.close(5)
    assert service.got == [("a", "start")] * 3
    assert box.stats.queued == 3


def test_close_sends_what_is_queued_and_counts_what_it_could_not(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    box = Outbox(service)
    for i in range(20):
        box.put(f"c{i}", job(f"c{i}", "start"))
    box.close(10)
    assert box.stats == OutboxStats(queued=20, sent=20)
    assert box.put("late", job("late", "start")) is False  # closed: refused, counted
    service.gate.clear()
    stuck = Outbox(service)
    stuck.put("a", job("a", "start"))
    with caplog.at_level(logging.ERROR, logger="session_client"):
        stuck.close(0.05)
    assert stuck.stats.failed == 1 and "1 still unsent" in caplog.text
    service.gate.set()


def test_a_fault_in_sending_fails_that_request_only_and_the_call_goes_on(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    """Not the service's answer but an error in sending (a bug): with one worker, a dead worker
    would leave the call's end, and every other call, unsent."""
    box = Outbox(service, workers=1, backoff=(0.001, 0.01), retry_secs=5.0)
    service.failures = {"a metadata": [TypeError("Object of type set is not JSON serializable")]}
    with caplog.at_level(logging.ERROR, logger="session_client"):
        for what in ("start", "metadata", "end"):
            box.put("a", job("a", what))
        box.put("b", job("b", "start"))
        assert box.wait(None, time.monotonic() + 10)
    assert [what for call, what in service.got if call == "a"] == ["start", "metadata", "end"]
    assert ("b", "start") in service.got
    assert box.stats == OutboxStats(queued=4, sent=3, failed=1)
    assert "metadata for a not sent: an error in sending it" in caplog.text
    box.close(1)


def end(call: str) -> Job:
    return Job("DELETE", f"/{call}", body_of({"call": call}), "end")


def test_an_end_is_sent_again_only_when_it_never_reached_the_service(
    outbox: Outbox, service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    """Repeated after it reached the service, an end could end the call's next session, started
    meanwhile under the same id by another instance: its outcome is unknown instead, logged."""
    service.failures = {
        "refused end": [service_error("unreachable", "connection refused", unsent=True)],
        "open end": [service_error("circuit_open", "failing fast", unsent=True)],
        "timeout end": [service_error("unreachable", "read timed out")],
        "late end": [service_error("deadline_exceeded", "no answer before the deadline")],
        "busy end": [UNAVAILABLE],
    }
    with caplog.at_level(logging.ERROR, logger="session_client"):
        for call in ("refused", "open", "timeout", "late", "busy"):
            outbox.put(call, end(call))
        assert outbox.wait(None, time.monotonic() + 10)
    sent = sorted(call for call, _ in service.got)
    assert sent == ["busy", "late", "open", "open", "refused", "refused", "timeout"]
    assert outbox.stats == OutboxStats(queued=5, sent=2, unknown=3, retries=2)
    assert caplog.text.count("no answer and perhaps done; not sent again") == 3


def test_requests_that_differ_only_as_json_are_not_taken_for_one(service: Service) -> None:
    """1 == 1.0 == True in Python, not in JSON: each is a write of its own."""
    service.gate.clear()
    box = Outbox(service)
    box.put("a", job("a", "start"))
    assert service.sending.wait(10)
    for value in (1, True, 1.0, 1.0):
        assert box.put("a", job("a", "metadata", k=value))
    service.gate.set()
    box.close(5)
    assert service.got == [("a", "start")] + [("a", "metadata")] * 3
    assert box.stats == OutboxStats(queued=4, sent=4)


@pytest.mark.parametrize(
    ("error", "again"),
    [
        (UNREACHABLE, True),
        (UNAVAILABLE, True),
        (service_error("gateway_throttled", "slow down", 429), True),
        (service_error("gateway_timeout", "timed out", 504), True),
        (service_error("gateway_internal_error", "crashed", 500), True),
        (service_error("internal_error", "failed unexpectedly", 500), True),  # the service's own, perhaps a blip
        (service_error("session_busy", "retry shortly", 503), True),
        (service_error("deadline_exceeded", "no time left"), True),
        (ENDED, False),
        (service_error("incarnation_limit", "full", 409), False),
        (service_error("metadata_too_large", "big", 413), False),
        (service_error("misconfigured", "logged", 500), False),
        (service_error("gateway_forbidden", "Forbidden", 403), False),
        (service_error("invalid_response", "not JSON", 200), False),
        (service_error("invalid_response", "not a str"), False),
    ],
)
def test_what_counts_as_no_verdict(error: SessionServiceError, again: bool) -> None:
    assert no_verdict(error) is again


# -- interpreter exit -----------------------------------------------------------------------------


@pytest.fixture
def stub() -> Iterator[StubService]:
    with serving(lambda request: (200, {"call_id": "x", "expires_at": 1, "ended": True})) as running:
        yield running


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)


def test_writes_queued_by_a_process_that_exits_without_close_are_sent(stub: StubService) -> None:
    done = run_python(
        f"""
        from session_client import RemoteSessionManager
        manager = RemoteSessionManager({stub.url!r}, secret_key="k" * 64)
        manager.create_tool_token("f", "call-exit")
        manager.set_session_metadata("call-exit", "k", 1)
        manager.end_session("call-exit")
        """
    )
    assert done.returncode == 0, done.stderr
    assert [(r.method, r.path) for r in stub.received] == [
        ("POST", "/sessions"),
        ("PATCH", "/sessions/call-exit/metadata"),
        ("DELETE", "/sessions/call-exit"),
    ]
    assert json.loads(stub.received[0].body)["call_id"] == "call-exit"
