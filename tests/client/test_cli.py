"""`swaig-session` against the local stack: each command's JSON and exit code, signed like the client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.ports import free_port
from harness.served import ServedStack
from tests.support.stub_service import serving

ANSWERED, REFUSED, USAGE, NO_VERDICT = 0, 1, 2, 3


def cli(*args: str, url: str | None = None, env: dict[str, str] | None = None) -> tuple[int, Any]:
    """Run the command as a shell would (`python -m session_client`, the console script's module):
    the exit code and the JSON it printed."""
    command = [sys.executable, "-m", "session_client", *([f"--url={url}"] if url else []), *args]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})
    if run.returncode == USAGE:
        return run.returncode, run.stderr
    assert run.stdout.count("\n") == 1, run.stdout + run.stderr  # one JSON line
    answer = json.loads(run.stdout)
    assert run.stdout == json.dumps(answer, separators=(",", ":"), ensure_ascii=False) + "\n"  # compact
    return run.returncode, answer


def test_a_call_from_start_to_end(stack: ServedStack, call_id: str) -> None:
    url = stack.base_url
    code, created = cli(
        "create", call_id, "--metadata", '{"caller":"+15551234567"}', "--function", "get_weather", url=url
    )
    assert code == ANSWERED and created["call_id"] == call_id and set(created["tokens"]) == {"get_weather"}
    code, minted = cli("tokens", call_id, "get_weather", "transfer", url=url)
    assert code == ANSWERED and set(minted["tokens"]) == {"get_weather", "transfer"}
    token = minted["tokens"]["get_weather"]
    assert cli("validate", call_id, "get_weather", token, url=url) == (ANSWERED, {"valid": True})
    assert cli("validate", call_id, "transfer", token, url=url) == (
        REFUSED,
        {"valid": False, "reason": "function_mismatch"},
    )
    assert cli("metadata", "set", call_id, "attempts", "2", url=url)[0] == ANSWERED
    assert cli("metadata", "set", call_id, "step", "greeting", url=url)[0] == ANSWERED  # not JSON: the text
    assert cli("metadata", "set", call_id, "--json", '{"vip":true}', url=url)[0] == ANSWERED
    expected = {"caller": "+15551234567", "attempts": 2, "step": "greeting", "vip": True}
    assert cli("metadata", "get", call_id, url=url) == (ANSWERED, {"call_id": call_id, "metadata": expected})
    assert cli("metadata", "delete", call_id, url=url) == (ANSWERED, {"deleted": True})
    assert cli("end", call_id, url=url) == (ANSWERED, {"ended": True})
    code, refused = cli("tokens", call_id, "get_weather", url=url)
    assert (code, refused["error"]) == (REFUSED, "session_ended")


def test_the_url_comes_from_the_environment(stack: ServedStack, call_id: str) -> None:
    code, created = cli("create", call_id, env={"SWAIG_SESSION_URL": stack.base_url})
    assert (code, created["call_id"]) == (ANSWERED, call_id)


def test_debug_is_refused_unless_the_stack_allows_it(stack: ServedStack) -> None:
    code, answer = cli("debug", "dG9rZW4=", url=stack.base_url)
    assert (code, answer["error"]) == (REFUSED, "debug_disabled")


@pytest.mark.parametrize(
    "args",
    [("end", "a/b"), ("tokens", "..", "f"), ("metadata", "get", "x" * 129), ("create", "call id")],
)
def test_a_call_id_outside_the_rule_is_refused_before_any_request(args: tuple[str, ...]) -> None:
    # Nothing listens at the URL: an answer without a request is the only way to exit 1 here.
    code, answer = cli(*args, url=f"http://127.0.0.1:{free_port()}")
    assert (code, answer["error"]) == (REFUSED, "invalid_call_id")


def test_an_unreachable_service_is_no_verdict() -> None:
    code, answer = cli("validate", "call-1", "f", "dG9rZW4=", url=f"http://127.0.0.1:{free_port()}")
    assert (code, answer["error"]) == (NO_VERDICT, "unreachable")


def test_a_throttled_request_is_no_verdict() -> None:
    with serving(lambda _: (429, {"message": "Too Many Requests"})) as gateway:
        code, answer = cli("validate", "call-1", "f", "dG9rZW4=", url=gateway.url)
    assert (code, answer["error"]) == (NO_VERDICT, "gateway_throttled")


@pytest.mark.parametrize(
    "args",
    [("create",), ("metadata", "set", "call-1", "--json", "[1]"), ("bogus",), ("tokens", "call-1")],
)
def test_usage_errors_exit_2(stack: ServedStack, args: tuple[str, ...]) -> None:
    code, message = cli(*args, url=stack.base_url if args != ("create",) else None, env={"SWAIG_SESSION_URL": ""})
    assert code == USAGE and "usage: swaig-session" in message


# The gateway's own 403, named as the client names it.
FORBIDDEN = {"error": "gateway_forbidden", "message": "Forbidden"}


def test_signed_like_the_client_against_a_stack_that_checks(iam_stack: ServedStack, call_id: str) -> None:
    # tests/conftest.py puts the emulated account's credentials (testing / testing) in the environment.
    url = iam_stack.base_url
    code, created = cli("--sign", "--region", "us-east-1", "create", call_id, url=url)
    assert (code, created["call_id"]) == (ANSWERED, call_id)
    assert cli("create", call_id, url=url) == (REFUSED, FORBIDDEN)  # a loopback URL goes unsigned
    wrong = {"AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    assert cli("--sign", "--region", "us-east-1", "end", call_id, url=url, env=wrong) == (
        REFUSED,
        FORBIDDEN,
    )


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "swaig-session"
    run = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout.startswith("swaig-session ")
