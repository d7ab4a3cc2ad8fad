"""Local stacks (`python -m local.serve` as subprocesses) for the hardening tests, one per configuration.

- `default_stack`: the template's defaults (debug off, revocation off).
- `loud_stack`: debug on, revocation on, log level DEBUG: the most a deployment could expose.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from local.stack import Stack, running_stack


@pytest.fixture(scope="session")
def default_stack() -> Iterator[Stack]:
    with running_stack() as stack:
        yield stack


@pytest.fixture(scope="session")
def loud_stack() -> Iterator[Stack]:
    with running_stack(DEBUG_MODE="true", REVOCATION_CHECK="true", POWERTOOLS_LOG_LEVEL="DEBUG") as stack:
        yield stack


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session
