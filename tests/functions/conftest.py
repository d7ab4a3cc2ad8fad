"""Run the real handlers in-process against moto, with the environment the template gives them.

Every handler module is `app.py`, so each is loaded from its file under a unique module
name. The stack is provisioned from `template.yaml` (local/aws.py), and each handler gets
the environment its function has in the template (local/template.py).
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from session_core import config, http

from local import aws as aws_local
from local import template
from local.lambda_runtime import LambdaContext, cold_start, http_event, load_handler
from local.router import Router, decode_path, template_routes


@dataclass
class Reply:
    """An HTTP API response as the handler returned it, body parsed."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    raw: dict[str, Any] = field(repr=False)


@dataclass
class Stack:
    """A provisioned account (tests/conftest.py's `aws`) and the template's functions, by short name."""

    account: Any
    functions: dict[str, template.Function]
    # (function, "service:Operation") of every AWS call the handlers made, in order.
    calls: list[tuple[str, str]] = field(default_factory=list)
    _current: str = ""
    _router: Router = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._router = Router(template_routes(self.functions))

    def reset(self) -> None:
        """A cold start: settings, clients and service are built again from the environment.

        The clients are made here, through the core's own factory, so that every AWS
        call a handler makes is recorded.
        """
        cold_start()
        for name in ("dynamodb", "secretsmanager"):
            config.client(name).meta.events.register("before-call", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.calls.append((self._current, f"{model.service_model.signing_name}:{model.name}"))

    def route(self, method: str, path: str) -> tuple[str, template.Route, dict[str, str]]:
        """The function serving `method path` (`path` as sent, percent-encoded), as API Gateway
        would pick it (the local front's router)."""
        found = self._router.match(method.upper(), decode_path(path))
        if found is None:
            raise LookupError(f"no route for {method} {path}")
        return found.target, found.route, found.params

    def event(self, method: str, path: str, body: Any = None, **kwargs: Any) -> dict[str, Any]:
        """The HTTP API event API Gateway would send for this request: rawPath and
        pathParameters percent-decoded once, as an HTTP API delivers them."""
        _, route, params = self.route(method, path)
        return http_event(
            method,
            decode_path(path),
            body,
            route_key=f"{route.method} {route.path}",
            path_parameters=params or None,
            **kwargs,
        )

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        """Call function `name`'s handler as Lambda would."""
        fn = self.functions[name]
        handler = load_handler(fn.code_dir, fn.handler)
        self._current = name
        try:
            return handler(event, LambdaContext(function_name=fn.logical_id))
        finally:
            self._current = ""

    def http(self, name: str, event: dict[str, Any]) -> Reply:
        """Invoke an API handler; every answer must be a JSON object with a JSON content type."""
        raw = self.invoke(name, event)
        headers = {k.lower(): v for k, v in (raw.get("headers") or {}).items()}
        assert headers.get("content-type", "").startswith("application/json"), raw
        assert raw.get("body"), raw
        parsed = json.loads(raw["body"])
        assert isinstance(parsed, dict), raw
        return Reply(raw["statusCode"], parsed, headers, raw)

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Reply:
        """Route a request to its function, as API Gateway does, and return the reply."""
        name, _, _ = self.route(method, path)
        return self.http(name, self.event(method, path, body, **kwargs))

    def create(self, call_id: str, metadata: dict[str, Any] | None = None) -> Reply:
        reply = self.request("POST", "/sessions", {"call_id": call_id, "metadata": metadata or {}})
        assert reply.status in (200, 201), reply
        return reply

    def mint(self, call_id: str, function: str) -> str:
        reply = self.request("POST", f"/sessions/{call_id}/tokens", {"function": function})
        assert reply.status == 201, reply
        return str(reply.body["token"])

    def validate(self, call_id: str, function: str, token: str) -> Reply:
        return self.request("POST", "/tokens/validate", {"call_id": call_id, "function": function, "token": token})


@pytest.fixture
def make_stack(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Stack]:
    """The template's functions over the `aws` account; `make_stack(DEBUG_MODE="true")` overrides a setting.

    Overrides go through the environment variable each function reads, as a stack
    deployed with that parameter would set it.
    """

    def make(**env: str) -> Stack:
        for var, value in env.items():
            monkeypatch.setenv(var, value)
        functions = template.functions({aws_local.TABLE_ID: aws.table_name, aws_local.SECRET_ID: aws.secret_id})
        for fn in functions.values():
            for var, value in fn.environment.items():
                assert os.environ.get(var) == value, f"{fn.name}: {var} is not as the template sets it"
        stack = Stack(aws, functions)
        stack.reset()
        return stack

    return make


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    """A freshly provisioned stack with the template's default parameters."""
    return make_stack()


@dataclass
class LogCapture:
    stream: io.StringIO

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """The service's structured log lines (the Powertools JSON format) for this test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(http.logger.registered_formatter)
    http.logger.addHandler(handler)
    try:
        yield LogCapture(stream)
    finally:
        http.logger._logger.removeHandler(handler)
