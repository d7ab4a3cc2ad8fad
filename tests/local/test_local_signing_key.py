"""LOCAL_SIGNING_KEY must be a signing key, as the template generates one: `make serve` and
`make invoke` refuse any other value at once, since the functions would refuse it on every request."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness.ports import free_port
from local import aws
from local.template import ROOT


def run(module: str, *args: str, key: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOCAL_SIGNING_KEY": key, "PORT": str(free_port()), "AWS_PORT": str(free_port())}
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("module", ["local.serve", "local.invoke"])
def test_a_value_that_is_not_a_key_is_refused_at_start(module: str) -> None:
    args = ("validate", "events/validate.json") if module == "local.invoke" else ()
    done = run(module, *args, key="not-a-key")
    assert done.returncode == 2, done.stderr
    assert "LOCAL_SIGNING_KEY must be a signing key" in done.stderr and "64 characters of A-Z a-z 0-9" in done.stderr
    assert "Traceback" not in done.stderr and "not-a-key" not in done.stderr


def test_a_key_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    key = aws.random_key()
    monkeypatch.setenv("LOCAL_SIGNING_KEY", key)
    assert aws.local_signing_key() == key
    monkeypatch.setenv("LOCAL_SIGNING_KEY", "")
    assert aws.local_signing_key() is None
