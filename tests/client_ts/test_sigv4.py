"""The TypeScript client's SigV4 against the local stack checking signatures as the deployed API does
(AUTH=iam): a signed start runs, an unsigned or wrongly signed one is refused by the gateway."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from harness import node
from harness.served import ServedStack
from local.aws import FAKE_CREDENTIALS, REGION


def probe(stack: ServedStack, call_id: str, **settings: str) -> dict[str, Any]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "SWAIG_API_URL": stack.base_url,
        "SWAIG_SECRET_KEY": stack.signing_key,
        "PROBE_CALL_ID": call_id,
        **settings,
    }
    done = subprocess.run(
        [str(node.node()), "test/sigv4-probe.mjs"],
        cwd=node.CLIENT_TS,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    report["log"] = done.stderr
    return report


def started(stack: ServedStack, call_id: str) -> bool:
    item = stack.client("dynamodb").get_item(TableName=stack.table_name, Key={"call_id": {"S": call_id}})
    return "Item" in item


SIGNED = {
    "PROBE_SIGN": "true",
    "PROBE_ACCESS_KEY": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
    "PROBE_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    "PROBE_SESSION_TOKEN": FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],  # temporary credentials: signed with it
    "PROBE_REGION": REGION,
}


def test_a_signed_start_runs(prepared: Path, iam_stack: ServedStack) -> None:
    call_id = f"call-{uuid.uuid4().hex[:12]}"
    report = probe(iam_stack, call_id, **SIGNED)
    assert report["signed"] is True
    assert report["stats"]["sent"] == 1 and report["stats"]["failed"] == 0, report
    assert started(iam_stack, call_id)


@pytest.mark.parametrize(
    "settings",
    [
        {},  # a loopback URL goes unsigned by default
        {**SIGNED, "PROBE_SECRET_ACCESS_KEY": "not-the-secret"},
        {**SIGNED, "PROBE_REGION": "eu-west-1"},
        {**SIGNED, "PROBE_SESSION_TOKEN": ""},
    ],
    ids=["unsigned", "wrong secret", "wrong region", "no session token"],
)
def test_an_unsigned_or_wrongly_signed_start_is_refused_by_the_gateway(
    prepared: Path, iam_stack: ServedStack, settings: dict[str, str]
) -> None:
    call_id = f"call-{uuid.uuid4().hex[:12]}"
    report = probe(iam_stack, call_id, **settings)
    assert report["stats"]["sent"] == 0 and report["stats"]["failed"] == 1, report
    assert "gateway_forbidden" in report["log"] or "Forbidden" in report["log"], report["log"]
    assert not started(iam_stack, call_id)
