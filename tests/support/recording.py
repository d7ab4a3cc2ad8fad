"""What a RemoteSessionManager sends, seen through its public seams, never its private parts.

`RecordingSession`, given as the manager's `session=`, sees every request that got an answer:
which thread sent it, what it asked and what came back, so a test counts the requests a method
costs. `RecordingTransport`, given as its `transport=`, sees each call's deadline and may act
between a call's answer and the manager's reading of it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import requests
from session_client.transport import Transport


class Sent(NamedTuple):
    """One request and its answer's status."""

    thread: str  # the name of the thread that sent it
    request: str  # "METHOD /path"
    body: dict[str, Any]  # its JSON body ({} without one)
    status: int


class RecordingSession(requests.Session):
    """Records every answered request in `sent` (in the order the answers came)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Sent] = []
        self.hooks["response"].append(self._record)

    def _record(self, response: requests.Response, **_: Any) -> None:
        request = response.request
        body = request.body  # the manager sends bytes, or nothing
        self.sent.append(
            Sent(
                threading.current_thread().name,
                f"{request.method} {urlsplit(response.url).path}",
                json.loads(body) if isinstance(body, bytes | str) and body else {},
                response.status_code,
            )
        )

    def lines(self) -> list[str]:
        """What was sent, as "METHOD /path"."""
        return [sent.request for sent in self.sent]

    def on(self, thread: str) -> list[str]:
        """What the thread of this name sent."""
        return [sent.request for sent in self.sent if sent.thread == thread]

    def off(self, thread: str) -> list[str]:
        """What every other thread sent."""
        return [sent.request for sent in self.sent if sent.thread != thread]


class RecordingTransport(Transport):
    """A transport (RemoteSessionManager(transport=...)) that records the time each call is given
    (`left`, seconds; None when the call takes the transport's own deadline), and tells `after`
    of each call that was answered, before the manager reads the answer."""

    def __init__(self, base_url: str, *, after: Callable[[str, str], None] | None = None, **options: Any) -> None:
        super().__init__(base_url, **options)
        self.left: list[float | None] = []
        self.after = after

    def call(
        self, method: str, path: str, body: Mapping[str, Any] | bytes | None = None, deadline: float | None = None
    ) -> tuple[int, dict[str, Any]]:
        self.left.append(None if deadline is None else deadline - time.monotonic())
        answer = super().call(method, path, body, deadline)
        if self.after is not None:
            self.after(method, path)
        return answer
