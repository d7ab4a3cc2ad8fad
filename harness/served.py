"""The local stack (`python -m local.serve`) as a real subprocess, for tests in any folder and the benchmark:

    with running_stack(TOKEN_EXPIRY_SECS="1") as stack:
        requests.post(f"{stack.base_url}/sessions", json={})
        stack.client("dynamodb").scan(TableName=stack.table_name)

Each stack gets free ports, a known signing key (`stack.signing_key`, or pass LOCAL_SIGNING_KEY)
and the cleanup schedule off unless CLEANUP_INTERVAL_SECS is given. Keyword arguments are
environment variables for `python -m local.serve` (template parameters by the variable the
functions read: DEBUG_MODE="true", SESSION_TTL_SECS="1", ...).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local import aws
from local.aws import HOST
from local.template import ROOT

from .ports import free_port

READY_TIMEOUT_SECS = 60.0
STOP_TIMEOUT_SECS = 10.0


@dataclass(frozen=True)
class ServedStack:
    """A running `python -m local.serve`: its URLs, the resources it provisioned, its process and log."""

    base_url: str
    aws_endpoint: str
    signing_key: str
    table_name: str
    secret_arn: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def client(self, service: str) -> Any:
        """A boto3 client for the stack's emulated AWS (dynamodb or secretsmanager)."""
        dynamodb, secretsmanager = aws.clients(self.aws_endpoint)
        return {"dynamodb": dynamodb, "secretsmanager": secretsmanager}[service]

    def log(self) -> str:
        """Everything the stack printed so far (banner, request lines, handler logs)."""
        return self.log_path.read_text(errors="replace")


def _answers(base_url: str) -> bool:
    """True once the front serves (it starts serving only when provisioning is done)."""
    try:
        with urllib.request.urlopen(f"{base_url}/", timeout=1):
            return True
    except urllib.error.HTTPError as exc:
        return exc.code == 404 and json.loads(exc.read()) == {"message": "Not Found"}  # the gateway's own 404
    except (urllib.error.URLError, OSError):
        return False


def stop(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_SECS) -> int:
    """Ctrl-C, as a developer would; killed if it does not exit in time. The exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@contextlib.contextmanager
def running_stack(ready_timeout: float = READY_TIMEOUT_SECS, niceness: int = 0, **env: str) -> Iterator[ServedStack]:
    """Start `python -m local.serve`, wait until it answers, yield it, Ctrl-C it.

    `niceness` lowers the stack's CPU priority (its workers inherit it): for a benchmark of what
    runs beside it on this machine, where in AWS the service would not share its CPU.
    """
    port, aws_port = free_port(), free_port()
    while aws_port == port:
        aws_port = free_port()
    settings = {
        "PORT": str(port),
        "AWS_PORT": str(aws_port),
        "LOCAL_SIGNING_KEY": aws.random_key(),
        "CLEANUP_INTERVAL_SECS": "0",
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    fd, log_name = tempfile.mkstemp(prefix="local-stack-", suffix=".log")
    log_path = Path(log_name)
    with os.fdopen(fd, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local.serve"],
            cwd=ROOT,
            env={**os.environ, **settings},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=(lambda: os.nice(niceness)) if niceness else None,
        )
    base_url, endpoint = f"http://{HOST}:{port}", f"http://{HOST}:{aws_port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while not _answers(base_url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the local stack did not start (exit code {process.poll()}):\n{log_path.read_text()}"
                )
            time.sleep(0.05)
        provisioned = aws.discover(*aws.clients(endpoint))
        yield ServedStack(
            base_url,
            endpoint,
            provisioned.signing_key,
            provisioned.table_name,
            provisioned.secret_id,
            process,
            log_path,
        )
    finally:
        stop(process)
    log_path.unlink(missing_ok=True)
