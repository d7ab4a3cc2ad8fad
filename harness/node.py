"""The TypeScript client (`client-ts/`) for the tests and the benchmark: Node.js, and its build.

`prepare()` runs `client-ts/scripts/prepare.mjs`: `npm ci` once per lock, the client compiled, and the
`@signalwire/sdk` snapshot compiled in a copy under the system's temp folder (cached by its sources).
The snapshot is the folder SIGNALWIRE_TS_SDK names, else `../shared/vendor/signalwire-typescript`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from local.template import ROOT

CLIENT_TS = ROOT / "client-ts"
PREPARE_TIMEOUT_SECS = 600  # a first `npm ci` downloads; later runs take seconds


def node() -> str | None:
    """The `node` executable on PATH, if any."""
    return shutil.which("node")


def prepare() -> Path:
    """Install, build the client, build the SDK copy (each skipped when done); the SDK copy's folder."""
    executable = node()
    if executable is None:
        raise RuntimeError("node is not on PATH: the TypeScript client needs Node.js 20 or newer")
    sdk: str = run_script(executable, ["scripts/prepare.mjs"], timeout=PREPARE_TIMEOUT_SECS)["sdk"]
    return Path(sdk)


def run_script(executable: str, args: list[str], *, timeout: float, env: dict[str, str] | None = None) -> Any:
    """`node args...` in client-ts/: the JSON its last line of output holds; RuntimeError, with the
    end of its stderr, when it fails."""
    done = subprocess.run(
        [executable, *args],
        cwd=CLIENT_TS,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"client-ts/{args[0]} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
