"""`make invoke`: one handler, one event, against a throwaway emulated AWS; JSON out, logs apart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from harness.ports import free_port
from local.template import ROOT


def invoke(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # A free AWS_PORT: nothing listens there, so invoke starts its own moto server.
    env = {**os.environ, "AWS_PORT": str(free_port())}
    return subprocess.run(
        [sys.executable, "-m", "local.invoke", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_prints_the_handler_response_as_json() -> None:
    done = invoke("ValidateFunction", "events/validate.json")  # the logical id works as well as the short name
    assert done.returncode == 0, done.stderr
    response = json.loads(done.stdout)  # stdout holds nothing but the response
    assert response["statusCode"] == 200
    assert set(json.loads(response["body"])) >= {"valid"}
    assert "[validate]" in done.stderr  # the handler's logs and metrics go to stderr


def test_runs_against_provisioned_resources_with_the_event_from_stdin() -> None:
    # create writes to the table: it only succeeds if the throwaway account was provisioned.
    done = invoke("create", "-", stdin=Path(ROOT / "events/create.json").read_text())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["statusCode"] == 201


def test_an_unknown_function_is_a_usage_error() -> None:
    done = invoke("nope", "events/validate.json")
    assert done.returncode == 2
    assert "no function 'nope'" in done.stderr and "validate (ValidateFunction)" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_event_file_is_a_usage_error() -> None:
    done = invoke("validate", "events/does-not-exist.json")
    assert done.returncode == 2
    assert "does-not-exist.json" in done.stderr
    assert "Traceback" not in done.stderr
