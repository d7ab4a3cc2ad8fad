"""The service's structured log lines as a test captured them (the `logs` fixture, tests/functions/conftest.py)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any


@dataclass
class LogCapture:
    stream: io.StringIO

    def records(self) -> list[dict[str, Any]]:
        """Each line the service logged, parsed (the Powertools JSON format)."""
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]
