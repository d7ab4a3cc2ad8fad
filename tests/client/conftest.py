"""The client's tests run against the real local stack: the shared one (`local_stack`, tests/conftest.py).

Fixtures: `stack` (template defaults: debug off, revocation check off), `connect(url, **options)`
(a RemoteSessionManager with a deadline and render budget long enough for a cold handler on a
loaded machine),
`transport_to(url, **options)` (a RecordingTransport bounded alike, for a manager's `transport=`),
`client` (an unsigned one on `stack`, remote validation), `call_id` (fresh per test).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from session_client import RemoteSessionManager

from harness.served import ServedStack
from tests.support.recording import RecordingTransport


@pytest.fixture(scope="session")
def stack(local_stack: ServedStack) -> ServedStack:
    return local_stack


# The client's default deadline (4 s) and render budget (2 s) suit Lambda; the local stack's first
# call to each handler imports it in a fresh worker, which on a busy CI machine can take longer.
STACK_TIMEOUT = (3.05, 60.0)
STACK_OPTIONS: dict[str, Any] = {
    "timeout": STACK_TIMEOUT,
    "deadline_secs": STACK_TIMEOUT[1],
    "render_budget_secs": STACK_TIMEOUT[1],
}


@pytest.fixture(scope="session")
def connect() -> Callable[..., RemoteSessionManager]:
    return functools.partial(RemoteSessionManager, **STACK_OPTIONS)


@pytest.fixture(scope="session")
def transport_to() -> Callable[..., RecordingTransport]:
    """A recording transport (a manager's `transport=`), bounded as `connect`'s managers are."""
    return functools.partial(RecordingTransport, timeout=STACK_TIMEOUT, deadline_secs=STACK_TIMEOUT[1])


@pytest.fixture(scope="session")
def client(stack: ServedStack, connect: Callable[..., RemoteSessionManager]) -> Iterator[RemoteSessionManager]:
    with connect(stack.base_url) as remote:
        assert not remote.signed and not remote.validates_locally
        yield remote


@pytest.fixture
def call_id() -> str:
    return f"call-{uuid.uuid4().hex[:12]}"
