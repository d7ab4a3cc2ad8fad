"""The client as an agent installs it: `make dist`'s wheel in a virtualenv of its own, apart from the repository.

    wheel = build_dist(tmp_path / "dist").wheel
    python = clean_venv(tmp_path / "venv", f"{wheel}[sdk]")
    subprocess.run([str(python), "-c", "import session_client"], cwd=tmp_path, check=True)

The venv is made by `python -m venv` and filled by uv with the dev lock as constraints, so it gets
the versions the suite is tested with (from uv's cache when `make venv` put them there).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from local.template import ROOT

BUILD_TIMEOUT_SECS = 300


@dataclass(frozen=True)
class Dist:
    wheel: Path
    sdist: Path


def build_dist(out: Path) -> Dist:
    """`make dist DIST=<out>`: the client's wheel and sdist, as the Makefile builds them."""
    subprocess.run(
        ["make", "--no-print-directory", "-s", "dist", f"DIST={out}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=BUILD_TIMEOUT_SECS,
    )
    [wheel], [sdist] = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    return Dist(wheel, sdist)


def clean_venv(where: Path, *requirements: str) -> Path:
    """A new virtualenv holding only `requirements` and what they depend on; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    python = where / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    install = [sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python", str(python)]
    subprocess.run(
        [*install, "--constraint", str(ROOT / "requirements-dev.txt"), *requirements],
        check=True,
        capture_output=True,
        env=env,
        timeout=BUILD_TIMEOUT_SECS,
    )
    return python
