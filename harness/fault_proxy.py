"""A TCP proxy on loopback in front of one service that can be made slow or switched to fail.

For outages of one emulated AWS service (moto serves every service on one port, so stopping
"only DynamoDB" means putting this in front of it and pointing the functions'
AWS_ENDPOINT_URL_DYNAMODB here), and for the network between an agent and the session service
(the benchmark's round trip, the client's tests of a slow, down or hung service). Modes:

- "pass": forward bytes both ways (the service is up), each way delayed by half of `rtt`
  seconds, as a link with that round-trip time: a request and its answer cost one `rtt` more,
  bytes in flight keep their order, and connections do not wait for one another;
- "down": the listening socket is closed, so connecting is refused (the service stopped);
- "hang": connections are accepted and read, never answered (the service stalled).

Switching mode cuts every open connection, as a restart of the service would. `rtt` may be
changed at any time; it applies to bytes that arrive after the change.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Iterator

from local.aws import HOST

MODES = ("pass", "down", "hang")


class FaultProxy:
    def __init__(self, target_port: int | None = None, *, rtt: float = 0.0) -> None:
        self.target_port = target_port  # may be set later, before the first connection
        self.rtt = rtt
        self.mode = "pass"
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener = self._listen(0)
        self.port: int = self._listener.getsockname()[1]
        self.accepted = 0  # connections taken since start (how many tries the clients made)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _listen(self, port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, port))
        listener.listen(128)
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return listener

    def set(self, mode: str) -> None:
        assert mode in MODES, mode
        with self._lock:
            previous, self.mode = self.mode, mode
            if mode == "down" and previous != "down":
                _close(self._listener)  # shutdown() first: close() alone leaves a blocked accept() running
            elif previous == "down" and mode != "down":
                self._listener = self._listen(self.port)
            doomed, self._open = self._open, set()
        for sock in doomed:
            _close(sock)

    def close(self) -> None:
        self.set("down")

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed: "down"
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.accepted += 1
                mode = self.mode
                self._open.add(client)
            if mode == "hang":
                threading.Thread(target=_drain, args=(client,), daemon=True).start()
                continue
            try:
                assert self.target_port is not None, "the proxy has no target yet"
                upstream = socket.create_connection((HOST, self.target_port), timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._open.add(upstream)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        """Read from `source`; a second thread writes each piece to `sink` half a round trip later."""
        line: queue.SimpleQueue[tuple[float, bytes] | None] = queue.SimpleQueue()
        threading.Thread(target=_deliver, args=(line, source, sink), daemon=True).start()
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                line.put((time.monotonic() + self.rtt / 2, data))
        line.put(None)  # end of stream, after what is still in flight


def _deliver(line: queue.SimpleQueue[tuple[float, bytes] | None], source: socket.socket, sink: socket.socket) -> None:
    while (item := line.get()) is not None:
        due, data = item
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)
        try:
            sink.sendall(data)
        except OSError:
            break
    _close(source)
    _close(sink)


def _drain(sock: socket.socket) -> None:
    """Read and drop whatever comes, answer nothing, until the connection is cut."""
    with contextlib.suppress(OSError):
        while sock.recv(65536):
            pass


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@contextlib.contextmanager
def fault_proxy(target_port: int | None = None, *, rtt: float = 0.0) -> Iterator[FaultProxy]:
    proxy = FaultProxy(target_port, rtt=rtt)
    try:
        yield proxy
    finally:
        proxy.close()
