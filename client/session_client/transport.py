"""The client's HTTP transport: one request to the service, bounded in time, in size and by a breaker.

- One total deadline per call: connecting, sending, reading the status line, the headers and
  the body, every retry and every wait between them end by one instant (`deadline_secs` from the
  call's start, or the caller's own `deadline`, a `time.monotonic()` instant). Socket timeouts
  bound each read, not the sum of them: a server that trickles its answer a byte at a time passes
  every read timeout. So each attempt's socket is shut down from a watchdog thread when the
  deadline comes, whatever the attempt is waiting for; the call then raises `deadline_exceeded`.
- `Retry-After` is honoured only when the wait fits in what is left of the deadline; otherwise the
  answer that asked for it is the call's answer.
- An answer longer than `max_answer_bytes` is refused (`invalid_response`) from its Content-Length,
  or once that many bytes have come, never read whole. Answers are asked for and read uncompressed,
  so the cap is the size in memory.
- A circuit breaker: after `breaker_failures` consecutive calls that had no verdict (no answer, a
  5xx, a 429, an answer that is not the service's), calls fail at once with `circuit_open` for
  `breaker_cooldown_secs`; then one call goes through as a probe, and its outcome closes or reopens it.

Which requests are repeated (the retry policy) and how answers become errors are the client's
contract (docs/client.md): `errors.service_error(code, message, status)`.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, ClassVar

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import InvalidHeader, NewConnectionError
from urllib3.util.retry import Retry

from .errors import ClientCode, GatewayCode, InvalidResponse, ServiceUnavailable, SessionServiceError, service_error

log = logging.getLogger("session_client")

DEFAULT_DEADLINE_SECS = 4.0  # a cold Lambda behind API Gateway answers within ~1-2 s
DEFAULT_TIMEOUT = (3.05, 10.0)  # (connect, read) per attempt, within the deadline
# The service's largest answer is a batch mint: 64 tokens of up to ~1 KB each, about 70 KB.
DEFAULT_RETRIES = 2  # after the first attempt, for answers a retry can cure, within the deadline
DEFAULT_BACKOFF_FACTOR = 0.2
DEFAULT_MAX_ANSWER_BYTES = 1 << 20
DEFAULT_BREAKER_FAILURES = 5
DEFAULT_BREAKER_COOLDOWN_SECS = 5.0
DEFAULT_POOL_SIZE = 32  # an agent's worker threads (anyio's default limiter: 40) share these
_READ_CHUNK = 65536

# Safe to repeat after a lost answer: create is idempotent by call_id (the client always sends
# one), minting again only makes fresh tokens, validate/debug/GET read, PATCH merges the same
# values. DELETE is not: a repeat would report False for what the first try ended, so it is
# retried only when the request never reached the service (it could not connect).
RETRY_METHODS = frozenset({"GET", "POST", "PATCH"})
RETRY_STATUSES = frozenset({502, 503, 504})
# API Gateway's own answers, by status (errors.GatewayCode says why they have codes of their own).
GATEWAY_CODES = {
    403: GatewayCode.FORBIDDEN,
    404: GatewayCode.NOT_FOUND,
    413: GatewayCode.REQUEST_TOO_LARGE,
    429: GatewayCode.THROTTLED,
    500: GatewayCode.INTERNAL_ERROR,
    503: GatewayCode.UNAVAILABLE,
    504: GatewayCode.TIMEOUT,
}
_RETRY_AFTER = Retry(0)  # only its parser: seconds or an HTTP date


def body_of(body: Mapping[str, Any]) -> bytes:
    """A request's JSON body as it is sent: compact, UTF-8, and never NaN or Infinity, which the
    service's JSON refuses (queued bodies are encoded with this too, when queued)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def is_verdict(error: SessionServiceError) -> bool:
    """True when the service (or its gateway) answered the request for what it is: a 4xx other than
    throttling. No answer, a 5xx, a 429, or an answer that is not the service's is no verdict."""
    return not isinstance(error, (ServiceUnavailable, InvalidResponse))


class CircuitBreaker:
    """Closed, open (fail fast) for a cool-down after `failures` consecutive failures, then one probe.

    A small state machine rather than a library: the ones on PyPI hold a lock for the whole
    guarded call, which would serialise every request of a multi-threaded agent.
    """

    def __init__(self, failures: int, cooldown_secs: float, clock: Callable[[], float] = time.monotonic) -> None:
        if failures < 1 or cooldown_secs < 0:
            raise ValueError("breaker_failures must be >= 1 and breaker_cooldown_secs >= 0")
        self.failures = failures
        self.cooldown_secs = cooldown_secs
        self._clock = clock
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probing = False
        self.opened = 0  # times it opened (for logs and tests)

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def admit(self) -> None:
        """Let a call through, or raise `circuit_open`. After the cool-down, one call is the probe."""
        with self._lock:
            if self._opened_at is None:
                return
            left = self._opened_at + self.cooldown_secs - self._clock()
            if self._probing or left > 0:
                raise service_error(
                    ClientCode.CIRCUIT_OPEN,
                    f"the service failed {self._consecutive} times in a row: not asked again for {max(left, 0):.1f} s",
                    unsent=True,
                )
            self._probing = True

    def record(self, verdict: bool) -> None:
        with self._lock:
            if verdict:
                if self._opened_at is not None:
                    log.info("the session service answers again: circuit closed")
                self._consecutive, self._opened_at, self._probing = 0, None, False
                return
            self._consecutive += 1
            if self._probing or (self._opened_at is None and self._consecutive >= self.failures):
                if self._opened_at is None:
                    self.opened += 1
                    log.warning(
                        "the session service failed %d times in a row: failing fast for %.1f s",
                        self._consecutive,
                        self.cooldown_secs,
                    )
                self._opened_at, self._probing = self._clock(), False


# -- the deadline's watchdog ------------------------------------------------------------------


class _Watch:
    """One call's deadline and the connection its current attempt uses."""

    __slots__ = ("conn", "deadline", "expired", "finished", "lock")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.conn: HTTPConnection | None = None
        self.expired = False
        self.finished = False
        self.lock = threading.Lock()

    def expire(self) -> None:
        """The deadline came: cut the attempt's socket, so whatever read or write waits on it ends."""
        with self.lock:
            if self.finished:
                return
            self.expired = True
            conn, self.conn = self.conn, None
        # Only while the attempt still owns the connection: once back in the pool it may be another call's.
        sock = getattr(conn, "sock", None) if conn is not None and getattr(conn, "_watch", None) is self else None
        if isinstance(sock, socket.socket):  # an SSLSocket too: its file descriptor is shut down under TLS
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def done(self) -> None:
        with self.lock:
            self.finished = True
            self.conn = None


class _Watchdog:
    """One daemon thread for the process, expiring watches at their deadlines (earliest first)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def arm(self, watch: _Watch) -> None:
        with self._wake:
            heapq.heappush(self._heap, (watch.deadline, next(self._order), watch))
            if self._thread is None or not self._thread.is_alive():  # first use, or after a fork
                self._thread = threading.Thread(target=self._run, name="session-client-deadlines", daemon=True)
                self._thread.start()
            if self._heap[0][2] is watch:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap or (wait := self._heap[0][0] - time.monotonic()) > 0:
                    self._wake.wait(None if not self._heap else wait)
                watch = heapq.heappop(self._heap)[2]
            watch.expire()  # nothing to do for an attempt that has finished


_watchdog = _Watchdog()
_current = threading.local()  # the calling thread's watch, for the connection its attempt takes


class _Tracked:
    """Mixed into urllib3's connections: an attempt's connection tells the call's watch it is in use."""

    _watch: _Watch | None = None

    def _track(self) -> None:
        watch: _Watch | None = getattr(_current, "watch", None)
        self._watch = watch
        if watch is not None:
            with watch.lock:
                if not watch.expired:
                    watch.conn = self  # type: ignore[assignment]
            if watch.expired:
                raise TimeoutError("the call's deadline has passed")

    # Ahead of urllib3's connection in the MRO: each tracks, then goes on to the connection's own.
    def connect(self) -> None:
        self._track()
        super().connect()  # type: ignore[misc]

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._track()
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Tracked, HTTPConnection):
    pass


class _HTTPSConnection(_Tracked, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Adapter(HTTPAdapter):
    """requests' adapter with pools whose connections report to the call's watch; no retries of its own."""

    _POOLS: ClassVar[dict[str, type[HTTPConnectionPool]]] = {"http": _HTTPPool, "https": _HTTPSPool}

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self._POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(self._POOLS)
        return manager


# -- the transport ----------------------------------------------------------------------------


class _TooLarge(Exception):
    pass


class Transport:
    """Requests to one base URL; `call()` is the whole of one client call."""

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        auth: requests.auth.AuthBase | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        deadline_secs: float = DEFAULT_DEADLINE_SECS,
        retries: int = DEFAULT_RETRIES,
        backoff_factor: float = DEFAULT_BACKOFF_FACTOR,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
        breaker_failures: int = DEFAULT_BREAKER_FAILURES,
        breaker_cooldown_secs: float = DEFAULT_BREAKER_COOLDOWN_SECS,
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> None:
        if deadline_secs <= 0:
            raise ValueError("deadline_secs must be positive")
        if retries < 0 or backoff_factor < 0 or max_answer_bytes < 1:
            raise ValueError("retries and backoff_factor must be >= 0, max_answer_bytes >= 1")
        self.base_url = base_url.rstrip("/")
        self.connect_timeout, self.read_timeout = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        self.deadline_secs = deadline_secs
        self.retries = retries
        self.backoff_factor = backoff_factor
        self.max_answer_bytes = max_answer_bytes
        self.breaker = CircuitBreaker(breaker_failures, breaker_cooldown_secs)
        self.session = session or requests.Session()
        adapter = _Adapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.auth = auth

    @property
    def signed(self) -> bool:
        """True when requests carry a signature (SigV4)."""
        return self.session.auth is not None

    def close(self) -> None:
        self.session.close()

    def call(
        self, method: str, path: str, body: Mapping[str, Any] | bytes | None = None, deadline: float | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One call: the status and JSON object of a 2xx answer, else SessionServiceError.

        `body` is a JSON object, or one already encoded (bytes, sent as they are). `deadline` (a
        `time.monotonic()` instant) ends the call, retries and waits included; by default
        `deadline_secs` from now. An error's `unsent` tells whether the request may have reached
        the service.
        """
        if deadline is None:
            deadline = time.monotonic() + self.deadline_secs
        elif time.monotonic() >= deadline:  # nothing is sent, so the service is not judged by it
            raise service_error(ClientCode.DEADLINE_EXCEEDED, f"{method} {path}: no time left to send it", unsent=True)
        self.breaker.admit()
        verdict = False
        try:
            answer = self._attempts(method, path, body, deadline)
            verdict = True
            return answer
        except SessionServiceError as exc:
            verdict = is_verdict(exc)
            raise
        finally:
            self.breaker.record(verdict)

    def _attempts(
        self, method: str, path: str, body: Mapping[str, Any] | bytes | None, deadline: float
    ) -> tuple[int, dict[str, Any]]:
        data = body if body is None or isinstance(body, bytes) else body_of(body)
        # identity: the answer's size on the wire is its size in memory, so the cap holds for both
        headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        attempt = 0
        unsent = True  # no attempt so far may have reached the service
        while True:
            if time.monotonic() >= deadline:
                raise service_error(
                    ClientCode.DEADLINE_EXCEEDED,
                    f"{method} {path}: no answer before the call's deadline",
                    unsent=unsent,
                )
            watch = _Watch(deadline)
            try:
                status, raw, retry_after = self._attempt(method, path, data, headers, watch)
            except _Failed as failed:
                unsent = unsent and not failed.sent
                if watch.expired or time.monotonic() >= deadline:
                    raise service_error(
                        ClientCode.DEADLINE_EXCEEDED,
                        f"{method} {path}: no answer before the call's deadline ({failed})",
                        unsent=unsent,
                    ) from failed.__cause__
                if failed.retryable and attempt < self.retries and self._pause(attempt, None, deadline):
                    attempt += 1
                    continue
                error = service_error(ClientCode.UNREACHABLE, f"{method} {path}: {failed}", unsent=unsent)
                raise error from failed.__cause__
            unsent = False
            if (
                status in RETRY_STATUSES
                and method in RETRY_METHODS
                and attempt < self.retries
                and self._pause(attempt, retry_after, deadline)
            ):
                attempt += 1
                continue
            return _answer(method, path, status, raw)

    def _pause(self, attempt: int, retry_after: float | None, deadline: float) -> bool:
        """Wait before retry number `attempt + 1`: urllib3's backoff (none before the first retry),
        or the answer's Retry-After when longer. False, without waiting, when the wait would not end
        before the deadline: the retry could not be made in time."""
        wait = 0.0 if attempt == 0 else self.backoff_factor * 2 ** (attempt - 1)
        if retry_after is not None:
            wait = max(wait, retry_after)
        if time.monotonic() + wait >= deadline:
            return False
        if wait:
            time.sleep(wait)
        return True

    def _attempt(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str], watch: _Watch
    ) -> tuple[int, bytes | _TooLarge, float | None]:
        """One request and its answer read within the watch's deadline: (status, body, Retry-After)."""
        left = watch.deadline - time.monotonic()
        timeout = (min(self.connect_timeout, left), min(self.read_timeout, left))
        _watchdog.arm(watch)
        _current.watch = watch
        try:
            try:
                response = self.session.request(
                    method,
                    self.base_url + path,
                    data=data,
                    headers=headers,
                    timeout=timeout,
                    allow_redirects=False,
                    stream=True,
                )
            except requests.RequestException as exc:
                never = _never_sent(exc)
                raise _Failed(str(exc), retryable=never or method in RETRY_METHODS, sent=not never) from exc
            try:
                raw: bytes | _TooLarge = self._read(response)
            except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
                raise _Failed(f"reading the answer: {exc}", retryable=method in RETRY_METHODS, sent=True) from exc
            finally:
                response.close()  # a whole answer's connection is back in the pool already; a cut one is closed
            return response.status_code, raw, _retry_after(response)
        finally:
            _current.watch = None
            watch.done()

    def _read(self, response: requests.Response) -> bytes | _TooLarge:
        """The answer's body, or _TooLarge without reading past the cap."""
        cap = self.max_answer_bytes
        length = response.headers.get("Content-Length", "")
        if length.strip().isdigit() and int(length) > cap:
            return _TooLarge(f"Content-Length {int(length)}")
        chunks, size = [], 0
        for chunk in response.raw.stream(_READ_CHUNK, decode_content=False):
            size += len(chunk)
            if size > cap:
                return _TooLarge(f"more than {cap} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


class _Failed(Exception):
    """An attempt that got no answer; `retryable` when it may be repeated, `sent` when the request
    may have reached the service."""

    def __init__(self, message: str, *, retryable: bool, sent: bool) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.sent = sent


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached the service: the connection was never made."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    return isinstance(reason, NewConnectionError)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return _RETRY_AFTER.parse_retry_after(value)
    except InvalidHeader:
        return None


def _answer(method: str, path: str, status: int, raw: bytes | _TooLarge) -> tuple[int, dict[str, Any]]:
    """The JSON object of a 2xx answer, else the error it is."""
    if isinstance(raw, _TooLarge):  # larger than any answer of the service's: nothing in it is read
        raise service_error(ClientCode.INVALID_RESPONSE, f"{method} {path}: an answer of {raw} refused", status)
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        answer = {}
    if 200 <= status < 300:
        if not answer:  # not the service (a wrong base_url, a proxy's page): no verdict can be read from it
            raise service_error(ClientCode.INVALID_RESPONSE, f"{method} {path}: not a JSON object", status)
        return status, answer
    # An error, or a redirect (the service never sends one).
    error, message = answer.get("error"), answer.get("message")
    if isinstance(error, str):
        code = error
    elif isinstance(message, str) and set(answer) == {"message"}:  # the gateway answered, not the service
        code = GATEWAY_CODES.get(status, f"gateway_{status}")
    else:
        code = f"http_{status}"
    raise service_error(code, str(message or _reason(status)), status)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "request failed"
