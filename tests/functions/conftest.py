"""The real handlers in-process against moto, with the environment the template gives them
(harness.in_process, through tests/support/handler_stack.py)."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Iterator

import pytest
from session_core import telemetry

from tests.support.accounts import AwsAccount
from tests.support.handler_stack import HandlerStack
from tests.support.logs import LogCapture


@pytest.fixture
def make_stack(aws: AwsAccount, monkeypatch: pytest.MonkeyPatch) -> Callable[..., HandlerStack]:
    """The template's functions over the `aws` account; `make_stack(DEBUG_MODE="true")` overrides a setting.

    Overrides go through the environment variable each function reads, as a stack
    deployed with that parameter would set it.
    """

    def make(**env: str) -> HandlerStack:
        for var, value in env.items():
            monkeypatch.setenv(var, value)
        stack = HandlerStack(aws)
        for fn in stack.functions.values():
            for var, value in fn.environment.items():
                assert os.environ.get(var) == value, f"{fn.name}: {var} is not as the template sets it"
        stack.reset()
        return stack

    return make


@pytest.fixture
def stack(make_stack: Callable[..., HandlerStack]) -> HandlerStack:
    """A freshly provisioned stack with the template's default parameters."""
    return make_stack()


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """The service's structured log lines (the Powertools JSON format) for this test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(telemetry.logger.registered_formatter)
    telemetry.logger.addHandler(handler)
    try:
        yield LogCapture(stream)
    finally:
        logging.getLogger(telemetry.logger.name).removeHandler(handler)  # the stdlib logger Powertools wraps
