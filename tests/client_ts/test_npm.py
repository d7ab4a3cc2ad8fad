"""`npm test` in client-ts, against a local stack started here: the TypeScript client's own suite
(tokens and rules against the service's vectors, the background sender, the transport, the manager
against the stack, a real AgentBase, the SDK's own SessionManager tests)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from harness import node
from harness.served import ServedStack
from tests.support import rule_vectors
from tests.support.node_stack import node_env

NPM_TEST_TIMEOUT_SECS = 240


def test_npm_test_passes(prepared: Path, node_stack: ServedStack, tmp_path: Path) -> None:
    env = {
        **os.environ,
        **node_env(node_stack, rule_vectors.write(tmp_path / "vectors.json")),
        "SIGNALWIRE_SDK_DIR": str(prepared),
    }
    done = subprocess.run(
        ["npm", "test", "--silent"],
        cwd=node.CLIENT_TS,
        env=env,
        capture_output=True,
        text=True,
        timeout=NPM_TEST_TIMEOUT_SECS,
        check=False,
    )
    report = done.stdout[-6000:] + done.stderr[-3000:]
    assert done.returncode == 0, report
    assert " passed" in done.stdout and " failed" not in done.stdout, report
