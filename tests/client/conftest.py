"""The client's tests run against the real local stack (`local.stack.running_stack`): one per session here.

Fixtures: `stack` (template defaults: debug off, revocation check off), `client` (an unsigned
RemoteSessionManager on it, remote validation), `call_id` (fresh per test).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from session_client import RemoteSessionManager

from local.stack import Stack, running_stack


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    with running_stack() as running:
        yield running


@pytest.fixture(scope="session")
def client(stack: Stack) -> Iterator[RemoteSessionManager]:
    with RemoteSessionManager(stack.base_url) as remote:
        assert not remote.signed and not remote.validates_locally
        yield remote


@pytest.fixture
def call_id() -> str:
    return f"call-{uuid.uuid4().hex[:12]}"
