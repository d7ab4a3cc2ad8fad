"""The local stack (`python -m local.serve`) as a real subprocess, shared by the integration tests.

Other test folders can do the same with `local.stack.running_stack(**env)`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from local.stack import Stack, running_stack


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The stack with the template's defaults (debug off, revocation off, cleanup schedule off)."""
    with running_stack() as running:
        yield running


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session
