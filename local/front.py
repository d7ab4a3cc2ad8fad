"""What API Gateway does with a request to the HTTP API: route it, authorize it, turn it into a
payload 2.0 event for the function, and the function's result into the HTTP reply, or answer itself
(no route, not signed, too large, no answer in time, a function error).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Collection
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from . import sigv4
from .console import complain
from .lambda_pool import InvokeError, LambdaPool, PoolBusy, PoolClosed
from .lambda_runtime import http_event
from .router import Match, Router, decode_path, template_routes
from .template import Function, Route

# The evidence for each of the gateway's limits and answers below: docs/local-stack.md, "The gateway's evidence".
MAX_BODY_BYTES = 10 * 1024 * 1024  # an HTTP API's payload quota (docs: http-api-quotas.html)
# Lambda refuses a synchronous invocation whose payload, the event JSON, is larger.
MAX_EVENT_BYTES = 6 * 1024 * 1024
# An HTTP API's maximum integration timeout (docs: http-api-quotas.html): past it the gateway answers
# 503 while the function may still run. A function whose own Timeout is shorter fails first: Lambda's
# "Task timed out" is a function error, the gateway's 500.
INTEGRATION_TIMEOUT_SECS = 30.0
OPENAPI_PATH = "/openapi.json"
OPENAPI_TARGET = "<openapi>"
# Headers that belong to one HTTP connection, never forwarded from a handler's response.
HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive", "date", "server"}


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def json_reply(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Reply(status, [("Content-Type", "application/json"), *(headers or [])], body)


# What API Gateway answers itself, when no function answers: a JSON body with only "message".
# No route (a wrong method included: a route is method and path) is 404; a function error or an
# invalid response is 500 (docs: http-api-troubleshooting-lambda.html).
NOT_FOUND = (404, "Not Found")
FUNCTION_FAILED = (500, "Internal Server Error")
UNAVAILABLE = (503, "Service Unavailable")
# Over the HTTP API's 10 MB payload quota, or an event over Lambda's 6 MB synchronous limit.
TOO_LARGE = (413, "Request Entity Too Large")
BAD_REQUEST = (400, "Bad Request")
# A route with IAM authorization, asked without a valid signature (none, another account's, another
# region or service, expired, altered): the gateway answers 403 itself and no function runs
# (docs: apigateway/latest/developerguide/http-api-access-control-iam.html, "API Gateway invokes your
# API route only if the client has execute-api permission for the route"; an HTTP API's body for it
# is {"message":"Forbidden"}, the status by the knowledge center's api-gateway-troubleshoot-403-forbidden).
FORBIDDEN = (403, "Forbidden")


def gateway_reply(answer: tuple[int, str]) -> Reply:
    status, message = answer
    return json_reply(status, {"message": message})


def lambda_reply(result: Any) -> Reply:
    """An HTTP API payload 2.0 response, as API Gateway turns it into HTTP.

    A result without `statusCode` is the body itself: 200, JSON.
    """
    if not (isinstance(result, dict) and "statusCode" in result):
        return json_reply(200, result)
    status = int(result["statusCode"])
    if not 100 <= status <= 599:
        raise ValueError(f"statusCode {status} out of range")
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers += [(str(name), str(v)) for v in values]
    headers += [("Set-Cookie", str(c)) for c in result.get("cookies") or []]
    headers = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
    raw = result.get("body")
    if raw is None:
        body = b""
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(raw, validate=True)
    else:
        body = str(raw).encode()
    return Reply(status, headers, body)


class Front:
    """What the HTTP front answers: template routes through the pool, the OpenAPI document if any."""

    def __init__(
        self,
        functions: dict[str, Function],
        pool: LambdaPool,
        openapi: Callable[[], dict[str, Any]] | None = None,
        integration_timeout: float = INTEGRATION_TIMEOUT_SECS,
        iam: sigv4.Account | None = None,
    ) -> None:
        self.iam = iam  # None: every route open (AUTH unset)
        self.timeouts = {name: fn.timeout for name, fn in functions.items()}
        self.integration_timeout = integration_timeout
        routes = template_routes(functions)
        if openapi is not None:
            routes.append((Route("GET", OPENAPI_PATH), OPENAPI_TARGET))
        self.router = Router(routes)
        self.pool = pool
        self.openapi = openapi

    def handle(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, hosts: Collection[str]
    ) -> tuple[Reply, str]:
        """The reply to one request (received with a Host among `hosts`, the API's own names, for its
        IAM authorization), and the name of what answered it (for the log)."""
        raw_path, _, query = target.partition("?")
        path = decode_path(raw_path)  # what an HTTP API routes on and puts in the event
        found = self.router.match(method, path)
        if found is None:
            return gateway_reply(NOT_FOUND), "-"
        if found.target == OPENAPI_TARGET:
            assert self.openapi is not None
            return json_reply(200, self.openapi()), "openapi"
        if self.iam is not None and not sigv4.is_signed(self.iam, method, target, headers, body, hosts):
            return gateway_reply(FORBIDDEN), "- (not signed)"  # routes are matched before they are authorized
        event = self.event(method, path, query, headers, body, found)
        request_id = event["requestContext"]["requestId"]
        try:
            if _event_bytes(event, len(target), body, headers) > MAX_EVENT_BYTES:
                complain(f"[{found.target}] event over Lambda's {MAX_EVENT_BYTES}-byte invocation payload limit")
                reply = gateway_reply(TOO_LARGE)
            else:
                reply = lambda_reply(self.invoke(found.target, event))
        except FutureTimeout:
            complain(f"[{found.target}] no answer within the {self.integration_timeout:g}s integration timeout")
            reply = gateway_reply(UNAVAILABLE)
        except InvokeError as exc:  # raised, crashed, or ran past the function's Timeout
            complain(f"[{found.target}] invocation failed: {exc.error['errorType']}: {exc.error['errorMessage']}")
            reply = gateway_reply(FUNCTION_FAILED)
        except (ValueError, TypeError) as exc:  # binascii.Error (bad base64) is a ValueError
            complain(f"[{found.target}] malformed Lambda response: {exc}")
            reply = gateway_reply(FUNCTION_FAILED)
        except (PoolBusy, PoolClosed):
            complain(f"[{found.target}] no worker free within the integration timeout")
            reply = gateway_reply(UNAVAILABLE)
        reply.headers.append(("Apigw-Requestid", request_id))
        return reply, found.target

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        """The function's result; PoolBusy or FutureTimeout when it cannot come within the integration timeout.

        A function whose Timeout is shorter waits for a worker only as long as still lets it run to
        its Timeout within the gateway's; it ends, at that Timeout, before the gateway gives up.
        A function allowed to run longer is watched: its call goes on after the gateway has
        answered, as Lambda's does, and frees its worker when it ends.
        """
        if self.timeouts[name] < self.integration_timeout:
            return self.pool.invoke(name, event, wait=self.integration_timeout - self.timeouts[name])
        outcome: Future[Any] = Future()

        def run() -> None:
            try:
                outcome.set_result(self.pool.invoke(name, event))
            except BaseException as exc:
                outcome.set_exception(exc)

        threading.Thread(target=run, name=f"invoke-{name}", daemon=True).start()
        return outcome.result(timeout=self.integration_timeout)

    @staticmethod
    def event(
        method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes, found: Match
    ) -> dict[str, Any]:
        """The HTTP API v2 event: repeated headers comma-joined, cookies split out of their header."""
        joined: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in headers:
            key = name.lower()
            if key == "cookie":
                cookies += [c.strip() for c in value.split(";") if c.strip()]
            else:
                joined[key] = f"{joined[key]},{value}" if key in joined else value
        return http_event(
            method,
            path,
            route_key=f"{found.route.method} {found.route.path}",
            headers=joined,
            query=query,
            raw_body=body or None,
            path_parameters=found.params,
            cookies=cookies,
        )


def _event_bytes(event: dict[str, Any], target_len: int, body: bytes, headers: list[tuple[str, str]]) -> int:
    """The event's size as JSON, or a bound on it that is under the limit.

    Serialised only when it could be too large: a byte grows to 6 at most once JSON-escaped,
    the path and query string appear up to 4 times, the rest is small.
    """
    bound = 6 * (len(body) + 4 * target_len + sum(len(k) + len(v) + 4 for k, v in headers)) + 4096
    if bound <= MAX_EVENT_BYTES:
        return bound
    return len(json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode())
