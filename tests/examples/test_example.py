"""`make example`'s run: one call, as SignalWire makes it, across two replicas of the example agent
sharing the local stack, the agents running from a clean venv holding only the built wheel.

The agents from the repository's venv would prove nothing more: the wheel holds the same code, and
the client's own tests run it from the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from local.template import ROOT
from tests.support.wheel_env import build_dist, clean_venv

RUN_TIMEOUT_SECS = 300
STEPS = [
    "SWML fetched",
    "get_weather (replica 2)",
    "remember_city (replica 1)",
    "my_city (replica 2)",
    "a token for another tool",
    "summary posted (replica 2)",
    "a tool after the end",
]


def check(run: subprocess.CompletedProcess[str]) -> list[str]:
    """Every step passed, in order; the agents' start lines."""
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    passed = [step for step in STEPS for line in lines if line.startswith(f"ok  {step} ")]
    assert passed == STEPS, lines
    assert any(line.startswith("ok  a tool after the end") and " refused: " in line for line in lines), lines
    assert lines[-1].startswith("passed:"), lines
    return [line for line in lines if line.startswith("weather agent on ")]


def test_the_example_plays_a_call_across_two_replicas_on_the_built_wheel(tmp_path: Path) -> None:
    """As CI checks a release: the agents import session_client from the wheel, not the repository."""
    wheel = build_dist(tmp_path / "dist").wheel
    venv = tmp_path / "venv"
    python = clean_venv(venv, f"{wheel}[sdk]")
    run = subprocess.run(
        [sys.executable, "-m", "examples.run", "--agent-python", str(python)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECS,
        check=False,
    )
    agents = check(run)
    ports = {port for line in agents for port in re.findall(r"127\.0\.0\.1:(\d+)/weather", line)}
    assert len(agents) == 2 and len(ports) == 2, agents  # two processes, two replicas
    for line in agents:
        assert f" from {venv}/" in line and "/site-packages/session_client/" in line, line
