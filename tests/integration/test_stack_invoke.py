"""`make invoke` while `make serve` runs: the handler sees the running stack's table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any
from urllib.parse import urlsplit

import requests

from harness.served import ServedStack
from local.lambda_runtime import http_event
from local.template import ROOT


def test_invoke_uses_the_running_stacks_emulated_aws(http: requests.Session, stack: ServedStack) -> None:
    call_id = f"inv-{uuid.uuid4().hex[:10]}"
    body: dict[str, Any] = {"call_id": call_id, "metadata": {"from": "http"}}
    assert http.post(f"{stack.base_url}/sessions", json=body, timeout=10).status_code == 201
    event = http_event(
        "GET",
        f"/sessions/{call_id}/metadata",
        route_key="GET /sessions/{call_id}/metadata",
        path_parameters={"call_id": call_id},  # as API Gateway sends it: the handlers act on no other id
    )
    done = subprocess.run(
        [sys.executable, "-m", "local.invoke", "metadata", "-"],
        cwd=ROOT,
        env={**os.environ, "AWS_PORT": str(urlsplit(stack.aws_endpoint).port)},
        input=json.dumps(event),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    response = json.loads(done.stdout)
    assert json.loads(response["body"]) == {"call_id": call_id, "metadata": {"from": "http"}}
