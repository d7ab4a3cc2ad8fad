"""The integration tests run over HTTP against the shared local stack (`local_stack`, tests/conftest.py)."""

from __future__ import annotations

import pytest

from harness.served import ServedStack


@pytest.fixture(scope="session")
def stack(local_stack: ServedStack) -> ServedStack:
    """The stack with the template's defaults (debug off, revocation off, cleanup schedule off)."""
    return local_stack
