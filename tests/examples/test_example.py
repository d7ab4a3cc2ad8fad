"""`make example`: one call, as SignalWire makes it, across two replicas of the example agent sharing
the local stack; from the repository's venv, and from a clean venv holding only the built wheel."""

from __future__ import annotations

import os
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


def test_make_example_plays_a_call_across_two_replicas() -> None:
    run = subprocess.run(
        ["make", "--no-print-directory", "-s", "example"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECS,
        env={**os.environ, "MAKEFLAGS": ""},
        check=False,
    )
    agents = check(run)
    ports = {re.search(r"127\.0\.0\.1:(\d+)/weather", line).group(1) for line in agents}  # type: ignore[union-attr]
    assert len(agents) == 2 and len(ports) == 2, agents  # two processes, two replicas


def test_the_example_runs_on_the_built_wheel_in_a_clean_venv(tmp_path: Path) -> None:
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
    assert len(agents) == 2
    for line in agents:
        assert f" from {venv}/" in line and "/site-packages/session_client/" in line, line
