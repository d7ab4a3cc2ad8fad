"""The Makefile's venv recipe: when uv cannot install, pip takes over and says so, package by package."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from local.template import ROOT

# Stands in for the venv's python: records how it was called, succeeds.
FAKE_PYTHON = '#!/bin/sh\necho "$@" >> "$(dirname "$0")/../calls"\n'


def test_the_pip_fallback_announces_itself_and_is_not_quiet(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(FAKE_PYTHON)
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    run = subprocess.run(
        ["make", "--no-print-directory", f"VENV={venv}", "UV=false", f"{venv}/.installed"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MAKEFLAGS": ""},
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "pip installs it instead, one package per line" in run.stderr
    calls = (venv / "calls").read_text().splitlines()
    [pip] = [call for call in calls if call.startswith("-m pip install") and "-r requirements-dev.txt" in call]
    assert "--quiet" not in pip.split()  # what it is doing shows as it does it
    assert (venv / ".installed").exists()
