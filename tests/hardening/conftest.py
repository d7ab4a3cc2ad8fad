"""Local stacks (`python -m local.serve` as subprocesses) for the hardening tests, one per configuration.

- `default_stack`: the template's defaults (debug off, revocation off): the shared `local_stack`.
- `loud_stack`: debug on, revocation on, log level DEBUG: the most a deployment could expose.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.served import ServedStack, running_stack


@pytest.fixture(scope="session")
def default_stack(local_stack: ServedStack) -> ServedStack:
    return local_stack


@pytest.fixture(scope="session")
def loud_stack() -> Iterator[ServedStack]:
    with running_stack(DEBUG_MODE="true", REVOCATION_CHECK="true", POWERTOOLS_LOG_LEVEL="DEBUG") as stack:
        yield stack
