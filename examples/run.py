"""`make example`: the local stack, two replicas of the example agent, and SignalWire's side of a call.

    python -m examples.run                          # the agents run on this venv's python
    python -m examples.run --agent-python <python>  # ... or on another (a venv with the built wheel)

Starts the local stack with RevocationCheck on, warms its functions, starts
examples/weather_agent.py twice (two processes sharing the stack), plays one call across both with
examples/signalwire_player.py, and stops everything it started, whatever happened.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from examples.signalwire_player import Player, WrongAnswer
from harness.ports import free_port
from harness.served import ServedStack, running_stack
from local.aws import HOST

HERE = Path(__file__).resolve().parent
AUTH = ("agent", "agent-password")
READY_TIMEOUT_SECS = 60.0
WARM_TIMEOUT = 120.0  # a cold function on a busy machine


def warm(stack: ServedStack) -> None:
    """One call through every route the agents use, so none of them waits on a cold worker."""
    call_id = f"warm-{uuid.uuid4().hex[:8]}"
    steps: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "/sessions", {"call_id": call_id, "functions": ["f"]}),
        ("POST", f"/sessions/{call_id}/tokens", {"functions": ["f"]}),
        ("POST", "/tokens/validate", {"call_id": call_id, "function": "f", "token": "x"}),
        ("PATCH", f"/sessions/{call_id}/metadata", {"key": "k", "value": 1}),
        ("GET", f"/sessions/{call_id}/metadata", None),
        ("DELETE", f"/sessions/{call_id}", None),
    ]
    for method, path, body in steps:
        requests.request(method, stack.base_url + path, json=body, timeout=WARM_TIMEOUT)


@contextlib.contextmanager
def agent(python: str, port: int, service: str, log: Path) -> Iterator[str]:
    """examples/weather_agent.py on `port`, until the block ends; its URL once it answers."""
    env = {**os.environ, "SIGNALWIRE_LOG_MODE": "off", "AGENT_USER": AUTH[0], "AGENT_PASSWORD": AUTH[1]}
    env.pop("PYTHONPATH", None)  # the agent finds session_client where its python has it installed
    with log.open("wb") as out:
        process = subprocess.Popen(
            [python, str(HERE / "weather_agent.py"), "--port", str(port), "--service", service],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tempfile.gettempdir(),  # not the repository: nothing of it on the agent's path
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECS
        while not _answers(f"http://{HOST}:{port}/health"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the agent on port {port} did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield f"http://{HOST}:{port}/weather"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent-python", default=sys.executable, help="the python the agents run on")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="example-") as tmp, running_stack(REVOCATION_CHECK="true") as stack:
        print(f"local stack on {stack.base_url} (RevocationCheck on)", flush=True)
        warm(stack)
        logs = [Path(tmp) / "agent-1.log", Path(tmp) / "agent-2.log"]
        try:
            with (
                agent(args.agent_python, free_port(), stack.base_url, logs[0]) as first,
                agent(args.agent_python, free_port(), stack.base_url, logs[1]) as second,
            ):
                for log in logs:
                    print(log.read_text().splitlines()[0], flush=True)
                outcome = Player([first, second], AUTH).run()
        except (WrongAnswer, requests.RequestException, RuntimeError) as exc:
            print(f"FAIL {exc}", flush=True)
            for log in logs:
                if log.exists():
                    print(f"--- {log.name}\n{log.read_text()}", flush=True)
            return 1
        if outcome != "refused":
            print("FAIL the ended call's token was accepted, with RevocationCheck on", flush=True)
            return 1
    print("passed: one call across two agent replicas sharing the session service", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
