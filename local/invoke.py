"""`make invoke FN=validate EVENT=events/validate.json`: one handler, one event, like `sam local invoke`.

Runs against the emulated AWS of a running `make serve` when one listens on AWS_PORT (5000);
otherwise starts a throwaway moto server on a free port and provisions it from the template.
The handler's response is printed as JSON on stdout, its logs go to stderr. Exit code 1 when
the handler fails (its error payload is printed instead, as Lambda reports it).
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import aws, template
from .aws import HOST
from .lambda_pool import InvokeError, LambdaPool, stderr_sink
from .serve import env_port
from .template import Function


class UsageError(Exception):
    pass


def find_function(name: str, functions: dict[str, Function]) -> Function:
    """By short name (validate) or logical id (ValidateFunction), case-insensitively."""
    for fn in functions.values():
        if name.lower() in (fn.name.lower(), fn.logical_id.lower()):
            return fn
    known = ", ".join(f"{fn.name} ({fn.logical_id})" for fn in functions.values())
    raise UsageError(f"no function {name!r} in template.yaml; one of: {known}")


def moto_listening(port: int) -> bool:
    """Whether a moto server answers on the port (UsageError when something else holds it)."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((HOST, port)) != 0:
            return False
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/moto-api/config", timeout=5) as reply:
            if reply.status < 300:  # moto answers 201 here
                return True
    except (urllib.error.URLError, OSError):
        pass
    raise UsageError(f"port {port} (AWS_PORT) is taken by something that is not moto; set AWS_PORT")


@contextlib.contextmanager
def emulated_aws() -> Iterator[tuple[str, aws.Provisioned]]:
    """The running stack's AWS endpoint and resources, or a throwaway provisioned one."""
    port = env_port("AWS_PORT", 5000)
    if moto_listening(port):
        endpoint = f"http://{HOST}:{port}"
        print(f"using the emulated AWS of the running stack at {endpoint}", file=sys.stderr)
        yield endpoint, aws.discover(*aws.clients(endpoint))
        return
    from .moto_server import MotoServer

    with MotoServer(HOST) as moto:
        endpoint = moto.endpoint
        yield endpoint, aws.provision(*aws.clients(endpoint), signing_key=aws.local_signing_key())


def read_event(source: str) -> Any:
    raw = sys.stdin.read() if source == "-" else Path(source).read_text()
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise UsageError(f"{source} is not JSON: {exc}") from exc


def invoke(name: str, event: Any) -> tuple[bool, Any]:
    """(True, response) or (False, Lambda's error payload)."""
    placeholder = {aws.TABLE_ID: "", aws.SECRET_ID: ""}
    fn = find_function(name, template.functions(placeholder))
    with emulated_aws() as (endpoint, provisioned):
        fn = template.functions(provisioned.refs())[fn.name]
        with LambdaPool({fn.name: fn}, endpoint, max_workers=1, log=stderr_sink) as pool:
            try:
                return True, pool.invoke(fn.name, event)
            except InvokeError as exc:
                return False, exc.error


def main(argv: list[str]) -> int:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if len(argv) != 2:
        print("usage: python -m local.invoke <function> <event.json|->", file=sys.stderr)
        return 2
    try:
        ok, payload = invoke(argv[0], read_event(argv[1]))
    except (UsageError, aws.NotProvisioned, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(payload, indent=2, ensure_ascii=False))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
