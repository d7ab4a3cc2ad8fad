"""Starting and stopping the stack as a developer does: a taken port, Ctrl-C, SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness.ports import free_port
from harness.served import running_stack
from local.template import ROOT


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def serve(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "local.serve"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("variable", ["PORT", "AWS_PORT"])
def test_a_taken_port_is_one_clear_line_and_exit_code_1(taken_port: int, variable: str) -> None:
    env = {"PORT": str(free_port()), "AWS_PORT": str(free_port()), variable: str(taken_port)}
    done = serve(**env)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(taken_port) in lines[0] and f"set {variable}" in lines[0]


def children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_stops_everything_and_exits_0(stop: signal.Signals) -> None:
    """Ctrl-C as a developer would, SIGTERM as `docker stop` or systemd would; each on its own stack."""
    with running_stack() as stack:
        assert requests.post(f"{stack.base_url}/sessions", json={}, timeout=10).status_code == 201
        workers = children(stack.process.pid)
        assert workers, "a worker process serves the request"
        stack.process.send_signal(stop)
        assert stack.process.wait(timeout=15) == 0
        log = stack.log()
    assert log.rstrip().endswith("stopped")
    assert "Traceback" not in log
    assert not any(alive(pid) for pid in workers)
