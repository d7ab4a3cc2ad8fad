"""Free loopback ports, for stacks and stub servers started by tests and the benchmark."""

from __future__ import annotations

import socket

from local.aws import HOST


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port
