"""The background sender: writes the caller does not wait for, in order per call, retried, never lost silently.

With the signing key held, a render mints in process and the session's start and its metadata
writes travel here: a bounded queue, drained by a few worker threads. Per call, one request at a
time and in the order they were put, so a PATCH never overtakes the start it belongs to; calls do
not wait for each other. A request that gets no verdict (no answer, 5xx, throttled) is sent again
with exponential backoff for up to `retry_secs`; a verdict (the service's 4xx) is final. A
request that is not safe to repeat (`Job.once`: an end, which repeated could end the call's next
session, started meanwhile under the same id) is sent again only when it never reached the service;
otherwise its outcome is unknown. Every outcome is counted in `stats`, and every request given up,
refused or of unknown outcome is logged. A body is encoded when the job is made, so what is sent is
what was checked then. `close()` and interpreter exit send what is queued, within a bound.
"""

from __future__ import annotations

import atexit
import heapq
import itertools
import logging
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from session_rules.codes import ErrorCode

from .errors import ServiceUnavailable, SessionServiceError

log = logging.getLogger("session_client")


def no_verdict(exc: SessionServiceError) -> bool:
    """True when `exc` says nothing about the request itself, so the same request may well pass later:
    the errors the client calls ServiceUnavailable (no answer, throttled, a 5xx), but for the service's
    `misconfigured`, which no retry cures. An answer that is not the service's (InvalidResponse) is a
    wrong URL, not a blip; every other error is the service's verdict on the request."""
    return isinstance(exc, ServiceUnavailable) and exc.code != ErrorCode.MISCONFIGURED


@dataclass(frozen=True)
class Job:
    """One request to send: `what` names it in logs ("start", "metadata", "end"); `body` is the JSON
    sent, encoded already (see `transport.body_of`), so nothing the caller changes later is sent.

    `refused` is told the service's verdict when it refuses the request. A DELETE is sent again
    only when it never reached the service.
    """

    method: str
    path: str
    body: bytes | None
    what: str
    refused: Callable[[SessionServiceError], None] | None = field(default=None, compare=False)

    @property
    def once(self) -> bool:
        """Not safe to repeat once it may have reached the service."""
        return self.method == "DELETE"


@dataclass(frozen=True)
class OutboxStats:
    """What the sender did so far (a snapshot). Every accepted request ends as sent, refused, failed or unknown."""

    queued: int = 0  # accepted into the queue
    sent: int = 0  # answered with a 2xx
    refused: int = 0  # answered with the service's verdict against it (a 4xx, or misconfigured): logged
    failed: int = 0  # no verdict within retry_secs, or still unsent when the sender closed: logged
    unknown: int = 0  # not safe to repeat (an end), no verdict, and perhaps it reached the service: logged
    dropped: int = 0  # not accepted, the queue being full: logged, and the caller told so
    retries: int = 0  # requests sent again after no verdict
    pending: int = 0  # accepted and not yet answered


@dataclass
class _Entry:
    job: Job
    first_try: float = 0.0
    attempts: int = 0


class Outbox:
    """A bounded queue of requests, sent by `workers` daemon threads started on first use.

    `send(job, deadline)` sends one request, given an absolute time.monotonic() deadline; it
    raises SessionServiceError when no 2xx came back.
    """

    def __init__(
        self,
        send: Callable[[Job, float], Any],
        *,
        capacity: int = 10_000,
        workers: int = 4,
        retry_secs: float = 120.0,
        send_timeout: float = 10.0,
        backoff: tuple[float, float] = (0.1, 5.0),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self.capacity = capacity
        self.retry_secs = retry_secs
        self.send_timeout = send_timeout
        self._backoff = backoff
        self._clock = clock
        self._workers = workers
        self._threads: list[threading.Thread] = []
        self._lock = threading.Condition()
        self._calls: dict[str, deque[_Entry]] = {}  # per call, its requests in order; the head may be in flight
        self._flying: set[str] = set()  # calls whose head is being sent
        self._due: list[tuple[float, int, str]] = []  # (when, tiebreak, call): calls whose head is to be sent
        self._order = itertools.count()
        self._counts = dict.fromkeys(("queued", "sent", "refused", "failed", "unknown", "dropped", "retries"), 0)
        self._pending = 0
        self._closing = False
        _at_exit(self)

    @property
    def stats(self) -> OutboxStats:
        with self._lock:
            return OutboxStats(**self._counts, pending=self._pending)

    def put(self, call_id: str, job: Job) -> bool:
        """Queue `job` behind the call's earlier ones; False (logged, counted) when the queue is full.

        A job equal to the call's last one not yet sent (the same request, byte for byte) is
        already queued: it is not queued twice.
        """
        with self._lock:
            queue = self._calls.get(call_id)
            if queue and queue[-1].job == job and (len(queue) > 1 or call_id not in self._flying):
                return True
            if self._closing or self._pending >= self.capacity:
                self._counts["dropped"] += 1
                log.error(
                    "session service writes: queue %s, %s %s for %s not sent",
                    "closed" if self._closing else f"full ({self.capacity})",
                    job.method,
                    job.path,
                    call_id,
                )
                return False
            if queue is None:
                queue = self._calls[call_id] = deque()
                heapq.heappush(self._due, (self._clock(), next(self._order), call_id))
            queue.append(_Entry(job))
            self._pending += 1
            self._counts["queued"] += 1
            self._start_workers()
            self._lock.notify()
        return True

    def wait(self, call_id: str | None, deadline: float) -> bool:
        """Wait until every request queued for `call_id` (all calls: None) was answered or given up,
        or until `deadline` (time.monotonic()); True when nothing of it is left."""
        with self._lock:
            while call_id in self._calls if call_id is not None else self._pending:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True

    def close(self, timeout: float) -> None:
        """Send what is queued, waiting at most `timeout` seconds; then stop. What is left is logged
        and counted as failed."""
        self.wait(None, self._clock() + timeout)
        with self._lock:
            self._closing = True
            left = self._pending
            if left:
                self._counts["failed"] += left
                self._pending = 0
                log.error("session service writes: %d still unsent after %.1f s at close, not sent", left, timeout)
                self._calls.clear()
                self._due.clear()
                self._flying.clear()
            self._lock.notify_all()

    # -- workers ------------------------------------------------------------------------------

    def _start_workers(self) -> None:
        while len(self._threads) < self._workers:
            thread = threading.Thread(target=self._work, name="session-client-outbox", daemon=True)
            try:
                thread.start()
            except RuntimeError:  # the interpreter is shutting down: the exit flush sends inline
                return
            self._threads.append(thread)

    def _next(self, *, block: bool = True) -> tuple[str, _Entry] | None:
        """The next call whose head is due, once one is (None: closing); without `block`, the
        first in line whatever its time, or None when nothing is queued."""
        with self._lock:
            while True:
                if self._closing:
                    return None
                if self._due:
                    when, _, call_id = self._due[0]
                    wait = when - self._clock()
                    if wait <= 0 or not block:
                        heapq.heappop(self._due)
                        self._flying.add(call_id)
                        return call_id, self._calls[call_id][0]
                    self._lock.wait(wait)
                elif block:
                    self._lock.wait()
                else:
                    return None

    def send_here(self, deadline: float) -> None:
        """Send what is queued from the calling thread until `deadline`: for interpreter exit, when
        no worker thread can start any more."""
        while self._clock() < deadline and (due := self._next(block=False)) is not None:
            self._attempt(*due)

    def _work(self) -> None:
        while (due := self._next()) is not None:
            self._attempt(*due)

    def _attempt(self, call_id: str, entry: _Entry) -> None:
        """Send the call's head and settle it, whatever happens: a worker never dies of one job,
        and a call's queue never stops behind one."""
        outcome, retry_at = "failed", 0.0
        try:
            outcome, retry_at = self._try(call_id, entry)
        except Exception:  # a fault in sending (not the service's answer): this job fails, the rest go on
            log.exception("session service %s for %s not sent: an error in sending it", entry.job.what, call_id)
        finally:
            self._settle(call_id, outcome, retry_at)

    def _try(self, call_id: str, entry: _Entry) -> tuple[str, float]:
        now = self._clock()
        if not entry.attempts:
            entry.first_try = now
        entry.attempts += 1
        job = entry.job
        outcome, retry_at = "sent", 0.0
        try:
            self._send(job, now + self.send_timeout)
        except SessionServiceError as exc:
            given_up = self._clock() - entry.first_try >= self.retry_secs
            if no_verdict(exc) and job.once and not exc.unsent:
                outcome = "unknown"  # repeated, it could act on what came after it (the id's next session)
                log.error(
                    "session service %s for %s: no answer and perhaps done; not sent again: %s",
                    job.what,
                    call_id,
                    exc,
                )
            elif no_verdict(exc) and not given_up:
                low, high = self._backoff
                retry_at = self._clock() + random.uniform(0, min(high, low * 2 ** (entry.attempts - 1)))
                log.debug("session service %s for %s: %s; trying again", job.what, call_id, exc)
                outcome = "retry"
            elif no_verdict(exc):
                outcome = "failed"
                log.error(
                    "session service %s for %s not sent, given up after %d tries: %s",
                    job.what,
                    call_id,
                    entry.attempts,
                    exc,
                )
            else:
                outcome = "refused"
                log.warning("session service refused the %s for %s: %s", job.what, call_id, exc)
                if job.refused is not None:
                    job.refused(exc)
        return outcome, retry_at

    def _settle(self, call_id: str, outcome: str, retry_at: float) -> None:
        with self._lock:
            self._flying.discard(call_id)
            queue = self._calls.get(call_id)
            if queue is None:  # closed meanwhile: already counted
                return
            if outcome == "retry":
                self._counts["retries"] += 1
                heapq.heappush(self._due, (retry_at, next(self._order), call_id))
            else:
                self._counts[outcome] += 1
                self._pending -= 1
                queue.popleft()
                if queue:
                    heapq.heappush(self._due, (self._clock(), next(self._order), call_id))
                else:
                    del self._calls[call_id]
            self._lock.notify_all()


# Interpreter exit sends what every live outbox holds. Weak references, so an outbox dropped
# without close() is not kept alive for it.
_LIVE: weakref.WeakSet[Outbox] = weakref.WeakSet()
EXIT_FLUSH_SECS = 5.0


def _at_exit(outbox: Outbox) -> None:
    _LIVE.add(outbox)


@atexit.register
def _flush_all() -> None:
    for outbox in list(_LIVE):
        if not any(thread.is_alive() for thread in outbox._threads):  # none could start: send from here
            outbox.send_here(time.monotonic() + EXIT_FLUSH_SECS)
        outbox.close(EXIT_FLUSH_SECS)
