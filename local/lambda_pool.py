"""Warm worker processes per function, run like Lambda's execution environments.

Each function gets its own environment (its template variables, the emulated AWS endpoint,
fake credentials, the variables Lambda sets) and a small pool of worker processes, started on
demand and reused; a worker runs one event at a time. A worker whose handler fails, dies or
times out is discarded and replaced on the next request, so every failure starts clean.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from .aws import FAKE_CREDENTIALS, REGION
from .template import ROOT, Function

SERVICE_ENDPOINTS = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SECRETS_MANAGER")
INIT_TIMEOUT_SECS = 10.0  # Lambda's limit for the init phase
MAX_WORKERS = 4

LogSink = Callable[[str], None]
_stderr_lock = threading.Lock()


def stderr_sink(line: str) -> None:
    """Write one whole log line to stderr (lines of concurrent workers never interleave)."""
    with _stderr_lock:
        sys.stderr.write(line if line.endswith("\n") else line + "\n")
        sys.stderr.flush()


class InvokeError(Exception):
    """The function did not return a result; `error` is the payload Lambda would report."""

    def __init__(self, function: str, error: dict[str, Any]) -> None:
        self.function = function
        self.error = {"errorType": error.get("errorType", "Unknown"), "errorMessage": error.get("errorMessage", "")}
        super().__init__(f"{function}: {self.error['errorType']}: {self.error['errorMessage']}")


class PoolBusy(Exception):
    """Every worker of a function stayed busy for longer than the wait allows."""


class PoolClosed(Exception):
    """The pool is shutting down."""


def function_env(fn: Function, aws_endpoint: str) -> dict[str, str]:
    """A clean environment like a Lambda container's: nothing leaks in from the caller's shell."""
    env = {name: os.environ[name] for name in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT") if name in os.environ}
    env.update(FAKE_CREDENTIALS)
    env.update(
        {
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": aws_endpoint,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_LAMBDA_FUNCTION_NAME": fn.logical_id,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.logical_id}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "local",
            "LAMBDA_TASK_ROOT": str(fn.code_dir),
            "_HANDLER": fn.handler,
            "TZ": ":UTC",
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
        }
    )
    # The one pass-through: botocore's per-service endpoint, so one service can be put behind a
    # fault-injecting proxy (tests/hardening/test_outages.py) while the other stays reachable.
    env.update({name: os.environ[name] for name in SERVICE_ENDPOINTS if name in os.environ})
    env.update(fn.environment)
    return env


class Worker:
    """One worker process: `python -m local.worker <code_dir> <handler>` speaking JSON lines."""

    def __init__(self, fn: Function, env: dict[str, str], log: LogSink | None) -> None:
        self.name = fn.name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "local.worker", str(fn.code_dir), fn.handler],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if log else None,
            bufsize=0,
        )
        self._buffer = b""
        self._eof = False  # the worker closed its protocol stream: it is exiting
        self._pump_thread: threading.Thread | None = None
        if log:
            assert self.proc.stderr is not None
            self._pump_thread = threading.Thread(target=self._pump, args=(self.proc.stderr, log), daemon=True)
            self._pump_thread.start()

    def _pump(self, stream: IO[bytes], log: LogSink) -> None:
        """Forward the worker's log (stderr, and the handler's stdout) line by line, prefixed."""
        for raw in iter(stream.readline, b""):
            log(f"[{self.name}] {raw.decode('utf-8', 'replace').rstrip()}")

    def _read_message(self, deadline: float) -> dict[str, Any] | None:
        """The next protocol line, or None when the worker exits or the deadline passes."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                self._eof = True
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            message: dict[str, Any] = json.loads(line)
        except ValueError:
            self.kill()
            raise InvokeError(
                self.name, {"errorType": "Runtime.ProtocolError", "errorMessage": repr(line[:200])}
            ) from None
        return message

    def wait_ready(self) -> None:
        message = self._read_message(time.monotonic() + INIT_TIMEOUT_SECS)
        if message is None or "ready" not in message:
            self.kill()
            error = (message or {}).get("init_error") or {
                "errorType": "Runtime.ExitError" if self._eof else "Sandbox.Timedout",
                "errorMessage": f"init failed (exit code {self.proc.poll()})",
            }
            raise InvokeError(self.name, error)

    def invoke(self, event: Any, timeout: float) -> Any:
        """Run one event; InvokeError when the handler raises, the worker dies or time runs out."""
        assert self.proc.stdin is not None
        request = {"event": event, "context": {"aws_request_id": str(uuid.uuid4()), "deadline": time.time() + timeout}}
        try:
            self.proc.stdin.write(json.dumps(request, separators=(",", ":")).encode() + b"\n")
        except BrokenPipeError:
            message = None
        else:
            message = self._read_message(time.monotonic() + timeout)
        if message is not None and "result" in message:
            return message["result"]
        if message is not None and "error" in message:
            raise InvokeError(self.name, message["error"])
        if self._eof:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(1.0)
        exited = self.proc.poll() is not None
        self.kill()
        if exited:
            raise InvokeError(
                self.name, {"errorType": "Runtime.ExitError", "errorMessage": f"exit code {self.proc.returncode}"}
            )
        raise InvokeError(self.name, {"errorType": "Sandbox.Timedout", "errorMessage": f"timed out after {timeout}s"})

    def stop(self, wait: float = 2.0) -> None:
        """End of input: the worker exits by itself; killed if it does not within `wait`."""
        self.close_input()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(wait)
        self.kill()

    def close_input(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.close_input()
        if self.proc.stdout:
            self.proc.stdout.close()
        if self._pump_thread is not None:
            self._pump_thread.join(timeout=1.0)  # the last log lines, before anyone prints after us


@dataclass
class FunctionPool:
    """Up to `max_workers` warm workers of one function; a request waits for a free one."""

    fn: Function
    env: dict[str, str]
    max_workers: int = MAX_WORKERS
    log: LogSink | None = stderr_sink
    wait_secs: float = 30.0  # how long a request waits for a free worker, unless invoke() says otherwise
    _idle: list[Worker] = field(default_factory=list)
    _busy: set[Worker] = field(default_factory=set)
    _starting: int = 0
    _closed: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)

    @property
    def size(self) -> int:
        with self._cond:
            return len(self._idle) + len(self._busy) + self._starting

    def invoke(self, event: Any, wait: float | None = None) -> Any:
        """The result; PoolBusy when no worker is free within `wait` seconds (default wait_secs)."""
        worker = self._acquire(self.wait_secs if wait is None else wait)
        succeeded = False
        try:
            result = worker.invoke(event, self.fn.timeout)  # the template's Timeout
            succeeded = True
        finally:
            self._release(worker, keep=succeeded)  # any failure: a fresh worker next time
        return result

    def _acquire(self, wait: float) -> Worker:
        deadline = time.monotonic() + wait
        with self._cond:
            while True:
                if self._closed:
                    raise PoolClosed(self.fn.name)
                if self._idle:
                    worker = self._idle.pop()
                    self._busy.add(worker)
                    return worker
                if len(self._busy) + self._starting < self.max_workers:
                    self._starting += 1
                    break
                if not self._cond.wait(deadline - time.monotonic()) and time.monotonic() >= deadline:
                    raise PoolBusy(self.fn.name)
        try:
            worker = Worker(self.fn, self.env, self.log)
            worker.wait_ready()
        except BaseException:
            with self._cond:
                self._starting -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._starting -= 1
            self._busy.add(worker)
            if self._closed:
                self._busy.discard(worker)
                worker.kill()
                raise PoolClosed(self.fn.name)
        return worker

    def _release(self, worker: Worker, *, keep: bool) -> None:
        with self._cond:
            self._busy.discard(worker)
            keep = keep and not self._closed
            if keep:
                self._idle.append(worker)
            self._cond.notify()
        if not keep:
            worker.stop(wait=0.5)

    def close(self) -> None:
        """Stop idle workers now; busy ones are killed, their requests fail."""
        with self._cond:
            self._closed = True
            idle, busy = list(self._idle), list(self._busy)
            self._idle.clear()
            self._cond.notify_all()
        for worker in busy:
            # Only the signal: the invoking thread sees the worker die and cleans up after it.
            if worker.proc.poll() is None:
                worker.proc.kill()
        for worker in idle:
            worker.close_input()  # all at once, so they exit in parallel
        for worker in idle:
            worker.stop(wait=2.0)


class LambdaPool:
    """Every function's pool, by short name (validate) — what `make serve` and `make invoke` run."""

    def __init__(
        self,
        functions: dict[str, Function],
        aws_endpoint: str,
        *,
        max_workers: int = MAX_WORKERS,
        log: LogSink | None = stderr_sink,
    ) -> None:
        self._pools: dict[str, FunctionPool] = {}
        for name, fn in functions.items():
            self._pools[name] = FunctionPool(fn, function_env(fn, aws_endpoint), max_workers=max_workers, log=log)

    def invoke(self, name: str, event: Any, wait: float | None = None) -> Any:
        return self._pools[name].invoke(event, wait)

    def close(self) -> None:
        threads = [threading.Thread(target=p.close) for p in self._pools.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def __enter__(self) -> LambdaPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
