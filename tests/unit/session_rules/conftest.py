"""Under `make mutation` only: mutmut 3.7 (the newest that fits aws-sam-cli's click pin) records
which tests cover which function through `item._nodeid`, which pytest 9 no longer has."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if "MUTANT_UNDER_TEST" in os.environ:
        for item in items:
            item._nodeid = item.nodeid  # type: ignore[attr-defined]
