"""`python -m smoke` against the local stack (both revocation modes) and against wrong answers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from session_client.signing import SigV4

from harness.served import ServedStack, running_stack
from smoke import lifecycle
from tests.support.stub_service import Received, serving

STEPS = [
    "create",
    "mint",
    "validate good",
    "validate tampered",
    "validate function",
    "metadata merge",
    "metadata read",
    "end",
    "revocation",
    "mint refused",
]


def run_smoke(url: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    try:
        with lifecycle.session_for(url) as http:
            mode = lifecycle.Lifecycle(url, http, out=lines.append).run()
    except lifecycle.WrongAnswer as exc:
        return 1, [*lines, f"FAIL {exc}"]
    return 0, [*lines, f"mode {mode}"]


def check_lifecycle(code: int, lines: list[str], mode: str) -> None:
    passed = [step for step in STEPS if any(line.startswith(f"ok  {step} ") for line in lines)]
    revocation = next(line for line in lines if line.startswith("ok  revocation"))
    assert f"check {mode}:" in revocation, lines
    assert code == 0, lines
    assert passed == STEPS and lines[-1] == f"mode {mode}", lines


def test_smoke_passes_against_the_local_stack(local_stack: ServedStack) -> None:
    check_lifecycle(*run_smoke(local_stack.base_url), mode="off")


def test_smoke_detects_the_revocation_check() -> None:
    with running_stack(REVOCATION_CHECK="true") as stack:
        check_lifecycle(*run_smoke(stack.base_url), mode="on")


def test_smoke_signs_for_a_stack_that_checks_signatures(iam_stack: ServedStack) -> None:
    """`--sign` with the emulated account's credentials (tests/conftest.py puts them in the environment)."""
    signed = subprocess.run(
        [sys.executable, "-m", "smoke", iam_stack.base_url, "--sign", "--region", "us-east-1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert signed.returncode == 0, signed.stdout + signed.stderr
    assert signed.stdout.splitlines()[-1].startswith("passed:"), signed.stdout
    unsigned = subprocess.run(
        [sys.executable, "-m", "smoke", iam_stack.base_url], capture_output=True, text=True, timeout=120, check=False
    )
    assert unsigned.returncode == 1, unsigned.stdout
    assert unsigned.stdout.startswith("FAIL create: POST /sessions expected 201, got 403 {'message': 'Forbidden'}")


def answered_wrongly(request: Received) -> tuple[int, Any]:
    """As a working service would answer, except that a mint names another call."""
    if request.path == "/sessions":
        return 201, {"call_id": json.loads(request.body)["call_id"], "expires_at": 1}
    if request.path.endswith("/tokens"):
        return 201, {"call_id": "x", "tokens": {"a": "t", "b": "t"}, "expires_at": 1}
    return 200, {"valid": True}


@pytest.fixture
def wrong_service() -> Iterator[str]:
    with serving(answered_wrongly) as stub:
        yield stub.url


def test_smoke_exits_nonzero_on_the_first_wrong_answer(wrong_service: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "smoke", wrong_service], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 1, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("ok  create "), lines
    # the stub's mint answers another call id: the run stops there, saying what was wrong
    assert lines[1].startswith("FAIL mint: expected 'smoke-") and lines[1].endswith("got 'x'"), lines
    assert len(lines) == 2, lines


def test_aws_urls_are_signed_and_local_ones_not() -> None:
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/dev"
    with lifecycle.session_for(url) as http:
        assert isinstance(http.auth, SigV4) and http.auth.region == "eu-west-1"
    with lifecycle.session_for("http://127.0.0.1:3000") as http:
        assert http.auth is None
