"""template.yaml as written, parsed once per module (a test may change its copy)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import template


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return template.source()
