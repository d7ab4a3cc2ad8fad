"""The template's functions run in this process, over one provisioned account: what the handler tests
and the benchmark call instead of the local stack's HTTP front and workers.

Each function gets the environment the template gives it (`use`), the core starts as a new
container with it (`reset`, the clients it builds shown to `observe`), and handlers are loaded
from their files (every one is `app.py`) and called as Lambda calls them. Requests are routed and
turned into events as API Gateway does (the local front's router and event).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from local import template
from local.aws import Provisioned
from local.lambda_runtime import LambdaContext, handler_from_file, http_event
from local.router import Router, decode_path, template_routes
from local.template import Route

from .container import cold_start

Handler = Callable[[dict[str, Any], Any], Any]
ClientObserver = Callable[[Any], None]  # given each boto3 client the core builds after a cold start
CORE_SERVICES = ("dynamodb", "secretsmanager")


class InProcessStack:
    def __init__(
        self,
        provisioned: Provisioned,
        *,
        base_env: Mapping[str, str] | None = None,
        observe: ClientObserver | None = None,
    ) -> None:
        self.provisioned = provisioned
        self.functions = template.functions(provisioned.refs())
        self.base_env = dict(base_env or {})
        self._observe = observe
        self._router = Router(template_routes(self.functions))

    def environment(self, name: str) -> dict[str, str]:
        """Function `name`'s environment: the template's, over `base_env`."""
        return {**self.base_env, **self.functions[name].environment}

    def use(self, name: str) -> None:
        """Give this process function `name`'s environment, as its container has it, and start cold."""
        os.environ.update(self.environment(name))
        self.reset()

    def reset(self) -> None:
        """A cold start: the core builds its settings, clients and service again from the environment; `observe`
        sees each client, made now through the core's own factory."""
        cold_start()
        if self._observe is not None:
            from session_core import config

            for service in CORE_SERVICES:
                self._observe(config.client(service))

    def handler(self, name: str) -> Handler:
        """Function `name`'s handler, its module imported once (a warm container's)."""
        fn = self.functions[name]
        handler: Handler = handler_from_file(fn.code_dir, fn.handler)
        return handler

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        """Call function `name`'s handler as Lambda would."""
        return self.handler(name)(event, LambdaContext(function_name=self.functions[name].logical_id))

    def route(self, method: str, path: str) -> tuple[str, Route, dict[str, str]]:
        """The function serving `method path` (`path` as sent, percent-encoded), its route and path
        parameters, as API Gateway picks them; LookupError when there is none."""
        found = self._router.match(method.upper(), decode_path(path))
        if found is None:
            raise LookupError(f"no route for {method} {path}")
        return found.target, found.route, found.params

    def event(self, method: str, path: str, body: Any = None, **kwargs: Any) -> dict[str, Any]:
        """The HTTP API event API Gateway would send for this request: rawPath and pathParameters
        percent-decoded once, as an HTTP API delivers them."""
        _, route, params = self.route(method, path)
        return http_event(
            method,
            decode_path(path),
            body,
            route_key=f"{route.method} {route.path}",
            path_parameters=params or None,
            **kwargs,
        )
