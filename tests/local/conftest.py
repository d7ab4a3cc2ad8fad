"""Fake functions for the pool and the HTTP front: small handler modules written to a temp folder."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from local.template import Function, Route

# One module, several behaviours chosen by the event, so one worker can be driven through all of them.
HANDLER = """
import json, os, sys, time

def lambda_handler(event, context):
    action = event.get("action") or (event.get("queryStringParameters") or {}).get("action", "echo")
    if action == "print":  # what EMF metrics and loggers do: write to stdout (and a stray read)
        sys.stdin.read()
        print("not a protocol line")
        print(json.dumps({"result": "forged"}))
        sys.stdout.flush()
        os.write(1, b"raw fd 1 write\\n")
    if action == "raise":
        raise ValueError("boom")
    if action == "exit":
        os._exit(3)
    if action == "sleep":
        time.sleep(float(event.get("secs", 5)))
    if action == "unserializable":
        return {"statusCode": 200, "body": object()}
    if action == "env":
        return {name: os.environ.get(name) for name in event["names"]}
    if action == "reply":  # the response to give, from the event or the request body
        return event["reply"] if "reply" in event else json.loads(event["body"])
    return {
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "function": context.function_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "event": event,
    }
"""


@pytest.fixture
def make_function(tmp_path: Path) -> Callable[..., Function]:
    """A Function whose code folder holds `source` as app.py (default: the multi-behaviour handler)."""

    def build(
        name: str = "echo", source: str = HANDLER, routes: list[Route] | None = None, env: dict[str, str] | None = None
    ) -> Function:
        code_dir = tmp_path / name
        code_dir.mkdir()
        (code_dir / "app.py").write_text(textwrap.dedent(source))
        return Function(
            logical_id=f"{name.title()}Function",
            code_dir=code_dir,
            handler="app.lambda_handler",
            environment=env or {},
            routes=routes or [],
        )

    return build
