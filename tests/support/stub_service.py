"""An HTTP service on loopback that answers as a test scripts it and records what reaches it.

An answer is `(status, JSON body or raw bytes)`, or a `Reply` for a hostile one: extra headers
(`Retry-After`), an answer sent a byte at a time (`trickle`), a huge body generated as it is sent
(`size`), or no answer for a while (`hold`). Every one is bounded, so a client that misbehaves
fails a test instead of hanging it. Each request's `Received.outcome` says how its answer went:
"answered", or "cut_off" when the client hung up before the whole answer was sent.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHUNK = 65536


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON, or bytes as they are
    headers: dict[str, str] = field(default_factory=dict)
    trickle: float = 0.0  # seconds between single bytes (0: all at once)
    trickle_headers: bool = False  # the status line and headers trickle too, not only the body
    size: int = 0  # pad `body` (a JSON object) with a string field to this many bytes, sent as generated
    chunked: bool = False  # no Content-Length: Transfer-Encoding chunked
    hold: float = 0.0  # seconds to wait before answering (ended early if the client hangs up)

    def payload(self) -> Iterator[bytes]:
        """The body, in the pieces it is written in."""
        data = self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()
        if not self.size:
            yield data
            return
        assert data.endswith(b"}"), "size pads a JSON object"
        head = data[:-1] + (b',"pad":"' if len(data) > 2 else b'"pad":"')
        yield head
        left = self.size - len(head) - 2
        while left > 0:
            yield b"x" * min(CHUNK, left)
            left -= CHUNK
        yield b'"}'

    def length(self) -> int:
        return sum(len(piece) for piece in self.payload()) if not self.size else self.size


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    port: int  # the client's: one connection kept alive shows as one port
    outcome: str = "pending"  # then "answered" or "cut_off"
    sent: int = 0  # bytes of the answer written


@dataclass
class StubService:
    url: str
    # What to answer: `script` in order while it lasts, then `answer`.
    answer: Callable[[Received], tuple[int, Any] | Reply]
    script: list[tuple[int, Any] | Reply] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    delay: float = 0.0


def _hung_up(connection: socket.socket) -> bool:
    """True when the client closed its end (readable, and nothing to read)."""
    readable, _, _ = select.select([connection], [], [], 0)
    if not readable:
        return False
    try:
        return connection.recv(1, 2) == b""  # MSG_PEEK
    except OSError:
        return True


@contextlib.contextmanager
def serving(answer: Callable[[Received], tuple[int, Any] | Reply]) -> Iterator[StubService]:
    state = StubService("", answer)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is visible

        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            request = Received(self.command, self.path, dict(self.headers.items()), body, self.client_address[1])
            state.received.append(request)
            if state.delay:
                time.sleep(state.delay)
            scripted = state.script.pop(0) if state.script else state.answer(request)
            reply = scripted if isinstance(scripted, Reply) else Reply(*scripted)
            try:
                self._send(reply, request)
            except OSError:  # BrokenPipe, ConnectionReset: the client hung up
                request.outcome = "cut_off"
                self.close_connection = True
            else:
                request.outcome = "answered"

        def _send(self, reply: Reply, request: Received) -> None:
            held_until = time.monotonic() + reply.hold
            while time.monotonic() < held_until:
                if _hung_up(self.connection):
                    raise ConnectionResetError("the client hung up while the answer was held")
                time.sleep(0.02)
            headers = {"Content-Type": "application/json", **reply.headers}
            if reply.chunked:
                headers["Transfer-Encoding"] = "chunked"
            else:
                headers["Content-Length"] = str(reply.length())
            head = f"HTTP/1.1 {reply.status} {self.responses.get(reply.status, ('Other',))[0]}\r\n"
            head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
            self._write(head.encode(), reply.trickle if reply.trickle_headers else 0.0, request)
            for piece in reply.payload():
                if reply.chunked:
                    piece = b"%x\r\n%s\r\n" % (len(piece), piece)
                self._write(piece, reply.trickle, request)
            if reply.chunked:
                self._write(b"0\r\n\r\n", 0.0, request)

        def _write(self, data: bytes, trickle: float, request: Received) -> None:
            if not trickle:
                self.wfile.write(data)
                request.sent += len(data)
                return
            for i in range(len(data)):
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                request.sent += 1
                time.sleep(trickle)

        do_GET = do_POST = do_PATCH = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
