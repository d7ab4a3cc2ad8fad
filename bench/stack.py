"""The AWS side of the benchmark: moto's server, the template's resources, the real handlers.

Handlers are loaded from `functions/<name>/app.py` with the environment `template.yaml`
gives them, and run with their stdout (Logger lines, EMF metrics) written to /dev/null:
the writes still happen, as they do into Lambda's log pipe, but stay off the report.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported once use_shared() has put the core layer on the path
    from harness.in_process import InProcessStack
    from local.aws import Provisioned

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / "shared"

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def use_shared() -> None:
    """Put the core layer on the import path, where Lambda's /opt/python would put it."""
    if str(SHARED) not in sys.path:
        sys.path.insert(0, str(SHARED))
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


class MotoProcess:
    """`python -m bench.moto_server` as a child process; stops when the context exits."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self.endpoint = ""

    def __enter__(self) -> MotoProcess:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.moto_server"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # werkzeug's request log
            text=True,
        )
        assert self._proc.stdout is not None
        port = self._proc.stdout.readline().strip()
        if not port.isdigit():
            self._proc.kill()
            raise RuntimeError("moto server did not start")
        self.endpoint = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is None:
            return
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


class AwsCalls:
    """Counts, through botocore's event hooks, the HTTP requests clients send and the DynamoDB items they read.

    `before-send` fires once per HTTP attempt (a retry counts again). Items read are a
    Query's or Scan's ScannedCount (what DynamoDB reads and bills, before any filter),
    else its Count, plus one per GetItem that found an item.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # cleanup deletes from a thread pool
        self.requests = 0
        self.items_read = 0
        self.operations: dict[str, int] = {}

    def attach(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-send", self._sent)
        if client.meta.service_model.service_name == "dynamodb":
            events.register("after-call.dynamodb.*", self._read)

    def _sent(self, request: Any = None, **_: Any) -> None:
        with self._lock:
            self.requests += 1

    def _read(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if "ScannedCount" in parsed:
            read = int(parsed["ScannedCount"])
        elif "Count" in parsed:
            read = int(parsed["Count"])
        elif model.name == "GetItem":
            read = 1 if "Item" in parsed else 0
        elif model.name == "BatchGetItem":
            read = sum(len(items) for items in parsed.get("Responses", {}).values())
        else:
            read = 0
        with self._lock:
            self.items_read += read
            self.operations[model.name] = self.operations.get(model.name, 0) + 1

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self.requests, self.items_read


class BenchStack:
    """One moto server, the benchmark's clients to it, and the service's functions over a table of it."""

    def __init__(self, endpoint: str) -> None:
        use_shared()
        from harness.fake_aws import FAKE_AWS_ENV, use_fake_aws

        use_fake_aws()
        self.endpoint = endpoint
        self.base_env = {**FAKE_AWS_ENV, "AWS_ENDPOINT_URL": endpoint}
        os.environ.update(self.base_env)
        # The create handler adds no metric of its own; Powertools warns on every such flush.
        warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
        self.calls = AwsCalls()
        self._devnull = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the stack
        self._functions: InProcessStack | None = None

    def close(self) -> None:
        self._devnull.close()

    @functools.cache  # noqa: B019 - one stack per run; the cache lives as long as it does
    def client(self, service: str) -> Any:
        """The benchmark's own client (setup, seeding, the baseline scan), hooked like the handlers'.

        Not the handlers' client: theirs gives up after a second (right for a Lambda), and
        moto on a loaded machine can take longer to scan 10,000 items.
        """
        import boto3
        from botocore.config import Config

        session: Any = boto3.session.Session()  # Any: the service name is a runtime string
        client = session.client(
            service, config=Config(retries={"mode": "standard", "max_attempts": 5}, read_timeout=120)
        )
        self.calls.attach(client)
        return client

    def provision(self, stage: str) -> Provisioned:
        """A fresh table and signing-key secret, as template.yaml defines them."""
        from local import aws

        return aws.provision(self.client("dynamodb"), self.client("secretsmanager"), stage=stage)

    def _over(self, provisioned: Provisioned) -> InProcessStack:
        from harness.in_process import InProcessStack

        return InProcessStack(provisioned, base_env=self.base_env, observe=self.calls.attach)

    def function_env(self, function: str, provisioned: Provisioned) -> dict[str, str]:
        """The function's environment from template.yaml, against this stack's resources."""
        return self._over(provisioned).environment(function)

    def use(self, function: str, provisioned: Provisioned) -> None:
        """Give this process the function's environment; the core starts as a new container, its
        clients counted like the benchmark's own."""
        self._functions = self._over(provisioned)
        self._functions.use(function)

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """Handler output (EMF metrics are printed) goes to /dev/null, as into Lambda's log pipe."""
        with contextlib.redirect_stdout(self._devnull):
            yield

    def handler(self, function: str) -> Handler:
        """`functions/<function>/app.py`'s lambda_handler, over the resources of the last `use`."""
        assert self._functions is not None, "use() a function's environment first"
        with self.quiet():  # Logger binds its stream to the stdout of import time
            return self._functions.handler(function)
