"""An HTTP service on loopback that answers as a test scripts it and records what reaches it."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    port: int  # the client's: one connection kept alive shows as one port


@dataclass
class StubService:
    url: str
    # What to answer, (status, JSON body or raw bytes): `script` in order while it lasts, then `answer`.
    answer: Callable[[Received], tuple[int, Any]]
    script: list[tuple[int, Any]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    delay: float = 0.0


@contextlib.contextmanager
def serving(answer: Callable[[Received], tuple[int, Any]]) -> Iterator[StubService]:
    state = StubService("", answer)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is visible

        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            request = Received(self.command, self.path, dict(self.headers.items()), body, self.client_address[1])
            state.received.append(request)
            if state.delay:
                time.sleep(state.delay)
            status, reply = state.script.pop(0) if state.script else state.answer(request)
            data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
