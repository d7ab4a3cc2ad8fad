"""The TypeScript client's tests: Node.js and the compiled client and SDK copy (`prepared`), and a
local stack with revocation on (`node_stack`) shared by this folder's tests.

Skipped when `node` is not on PATH, and only then: everything else that is missing fails.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import node
from harness.served import ServedStack, running_stack
from tests.support.node_stack import STACK_SETTINGS

MIN_NODE_MAJOR = 20


@pytest.fixture(scope="session")
def prepared() -> Path:
    """The compiled SDK copy's folder, once `npm ci` and both builds are done (each at most once per run)."""
    executable = node.node()
    if executable is None:
        pytest.skip("node is not on PATH: the TypeScript client's tests need Node.js 20 or newer")
    version = subprocess.run([executable, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    assert int(version.lstrip("v").split(".")[0]) >= MIN_NODE_MAJOR, f"Node.js {version} is older than 20"
    return node.prepare()


@pytest.fixture(scope="package")
def node_stack(prepared: Path) -> Iterator[ServedStack]:
    with running_stack(**STACK_SETTINGS) as stack:
        yield stack
