"""One warm "Lambda container": imports a handler once, then runs one event at a time.

    python -m local.worker <code_dir> <module.function>

Protocol (JSON lines): the worker writes `{"ready": true}` (or `{"init_error": {...}}` and exits)
once the handler is imported, then for each request line `{"event": ..., "context": {...}}`
writes one line `{"result": ...}` or `{"error": {"errorType", "errorMessage"}}`. It exits
at end of input.

The protocol has file descriptors of its own: before the handler is imported, fd 1 is pointed
at stderr and fd 0 at /dev/null, so whatever the handler prints (EMF metrics, logs) lands in
the log and nothing it reads can swallow a request.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from local.lambda_runtime import LambdaContext

Handler = Callable[[dict[str, Any], Any], Any]


class Context(LambdaContext):
    """The Lambda context with a real deadline (the template's Timeout)."""

    deadline: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.time()) * 1000))


def _protocol_streams() -> tuple[TextIO, TextIO]:
    """Keep the real stdin and stdout for the protocol; the handler gets /dev/null and the log."""
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - lives as long as the process
    sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as the process
    return requests, proto


def _as_lambda(code_dir: Path) -> None:
    """Import path and working directory as in Lambda: the function's code, then the layer."""
    root = Path(__file__).resolve().parent.parent
    sys.path[:] = [str(code_dir), str(root / "shared"), *(p for p in sys.path[1:] if Path(p or ".").resolve() != root)]
    os.chdir(code_dir)


def _error(exc: BaseException) -> dict[str, Any]:
    """The error payload Lambda returns for an unhandled exception."""
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _send(proto: TextIO, message: dict[str, Any]) -> None:
    proto.write(json.dumps(message, separators=(",", ":")) + "\n")
    proto.flush()


def import_handler(handler: str) -> Handler:
    """`app.lambda_handler` → the function, imported as Lambda's runtime does."""
    module_name, _, attr = handler.rpartition(".")
    handler_function: Handler = getattr(importlib.import_module(module_name), attr)
    return handler_function


def serve(proto: TextIO, requests: TextIO, handler: Handler) -> None:
    """Run each request through the handler until the input ends."""
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
    memory = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"))
    for line in requests:
        request = json.loads(line)
        context = Context(
            function_name=function_name,
            memory_limit_in_mb=memory,
            aws_request_id=request["context"]["aws_request_id"],
            log_group_name=f"/aws/lambda/{function_name}",
        )
        context.deadline = request["context"]["deadline"]
        try:
            result = handler(request["event"], context)
        # The runtime's job is to report whatever the handler raised, as Lambda does.
        except Exception as exc:
            traceback.print_exc()
            _send(proto, {"error": _error(exc)})
            continue
        finally:
            sys.stdout.flush()
        try:
            _send(proto, {"result": result})
        except (TypeError, ValueError) as exc:
            _send(proto, {"error": {"errorType": "Runtime.MarshalError", "errorMessage": str(exc)}})


def main(argv: list[str]) -> int:
    # Ctrl-C reaches the whole process group; the pool decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    code_dir, handler_name = Path(argv[0]).resolve(), argv[1]
    requests, proto = _protocol_streams()
    _as_lambda(code_dir)
    try:
        handler = import_handler(handler_name)
    # An init failure of any kind is reported, as Lambda reports Runtime.ImportModuleError.
    except Exception as exc:
        traceback.print_exc()
        _send(proto, {"init_error": _error(exc)})
        return 1
    _send(proto, {"ready": True, "pid": os.getpid()})
    serve(proto, requests, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
