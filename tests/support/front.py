"""The local stack's HTTP front over fake functions, on a free loopback port, for tests of the gateway."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from local.front import Front
from local.http_server import FrontHandler, FrontServer
from local.lambda_pool import LambdaPool
from local.template import Function


@contextlib.contextmanager
def serving_front(
    functions: dict[str, Function], openapi: Callable[[], dict[str, Any]] | None = None, **front: Any
) -> Iterator[str]:
    """The front's base URL while it serves `functions` (two workers each, no AWS behind them)."""
    pool = LambdaPool(functions, "http://127.0.0.1:9", max_workers=2, log=None)
    server = FrontServer(("127.0.0.1", 0), FrontHandler)
    server.front = Front(functions, pool, openapi, **front)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        pool.close()
