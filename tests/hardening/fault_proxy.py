"""A TCP proxy in front of one emulated AWS service that can be switched to fail.

moto serves every service on one port, so stopping "only DynamoDB" means putting this in
front of it and pointing the functions' AWS_ENDPOINT_URL_DYNAMODB here. Modes:

- "pass": forward bytes both ways (the service is up);
- "down": the listening socket is closed, so connecting is refused (the service stopped);
- "hang": connections are accepted and read, never answered (the service stalled).

Switching mode cuts every open connection, as a restart of the service would.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

HOST = "127.0.0.1"
MODES = ("pass", "down", "hang")


class FaultProxy:
    def __init__(self, target_port: int | None = None) -> None:
        self.target_port = target_port  # may be set later, before the first connection
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
        listener.listen(64)
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
            with self._lock:
                self._open.add(upstream)
            threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
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
def fault_proxy(target_port: int | None = None) -> Iterator[FaultProxy]:
    proxy = FaultProxy(target_port)
    try:
        yield proxy
    finally:
        proxy.close()
