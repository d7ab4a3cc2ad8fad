"""`make serve`: the whole stack on this machine, no Docker.

moto's server plays the AWS account (table and secret created from `template.yaml`), an HTTP
front routes each request, as an API Gateway HTTP API v2 event, to the real handler the
template names for the route, and the scheduled function runs on the template's schedule.

    python -m local.serve      # PORT (3000), AWS_PORT (5000), LOCAL_SIGNING_KEY, CLEANUP_INTERVAL_SECS, AUTH

AUTH=iam makes the front check SigV4 as the API's IAM authorization does (local/sigv4.py): only
requests signed for execute-api in the stack's region with the emulated account's credentials
(testing / testing, as moto's) reach a function.
"""

from __future__ import annotations

import base64
import errno
import importlib
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

from . import aws, sigv4, template
from .aws import HOST, REGION
from .lambda_pool import InvokeError, LambdaPool, PoolBusy, PoolClosed
from .lambda_runtime import http_event, scheduled_event
from .router import Match, Router, decode_path, template_routes
from .template import Function, Route

MAX_BODY_BYTES = 10 * 1024 * 1024  # an HTTP API's payload quota (docs: http-api-quotas.html)
# Lambda refuses a synchronous invocation whose payload, the event JSON, is larger: "Request must
# be smaller than 6291456 bytes for the InvokeFunction operation" (pelmers/streetwarp-web#14).
MAX_EVENT_BYTES = 6 * 1024 * 1024
# An HTTP API's maximum integration timeout, 30 s (docs: http-api-quotas.html). Past it the
# gateway answers 503 "Service Unavailable" while the function may still run (anomalyco/sst#2232;
# a REST API's 29 s timeout is 504 instead). A function whose own Timeout is shorter fails first:
# Lambda's "Task timed out" is a function error, the gateway's 500.
INTEGRATION_TIMEOUT_SECS = 30.0
OPENAPI_PATH = "/openapi.json"
OPENAPI_TARGET = "<openapi>"
CRON_FALLBACK_SECS = 15 * 60
# Headers that belong to one HTTP connection, never forwarded from a handler's response.
HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive", "date", "server"}

_print_lock = threading.Lock()


def say(line: str) -> None:
    """One line on stdout, flushed (the request log and the banner)."""
    with _print_lock:
        print(line, flush=True)


def complain(line: str) -> None:
    with _print_lock:
        print(line, file=sys.stderr, flush=True)


# --- responses -----------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def json_reply(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Reply(status, [("Content-Type", "application/json"), *(headers or [])], body)


# What API Gateway answers itself, when no function answers: a JSON body with only "message".
# HTTP API: no route (wrong method included: a route is method and path) is 404 "Not Found"
# (aws-lambda-dotnet LambdaTestTool-v2 ApiGatewayResults.RouteNotFound); a function error or an
# invalid response is 500 "Internal Server Error" (docs: http-api-troubleshooting-lambda.html;
# the same tool's ToHttpApiV2Response).
NOT_FOUND = (404, "Not Found")
FUNCTION_FAILED = (500, "Internal Server Error")
UNAVAILABLE = (503, "Service Unavailable")
# Over the HTTP API's 10 MB payload quota, or an event over Lambda's 6 MB synchronous limit:
# 413, as AWS's LambdaTestTool-v2 answers in HTTP API v2 mode (LargePayloadTests: "Request
# Entity Too Large"; a REST API says "Request Too Long", koki-develop/lgtm-generator#10).
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


# --- the HTTP front ------------------------------------------------------------------------------


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
        self.iam = iam  # None: every route open, as `make serve` has always been
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


class FrontServer(ThreadingHTTPServer):
    request_queue_size = 128
    front: Front


class FrontHandler(BaseHTTPRequestHandler):
    """stdlib HTTP plumbing; every method goes to `Front.handle`."""

    server: FrontServer
    server_version = "swaig-local"
    protocol_version = "HTTP/1.1"  # keep-alive, as API Gateway
    disable_nagle_algorithm = True

    def __getattr__(self, name: str) -> Any:
        # http.server looks up do_<METHOD>; routing (and 404) is the router's job, for any method.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self) -> None:
        started = time.perf_counter()
        try:
            body = self._read_body()
        except _BadBody as exc:
            reply, answered_by = exc.reply, "-"
            self.close_connection = True
        else:
            hosts = sigv4.api_hosts(self.server.server_address[1])
            reply, answered_by = self.server.front.handle(
                self.command, self.path, list(self.headers.items()), body, hosts
            )
        try:
            self._write(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting; nothing to answer
            answered_by += " (client gone)"
        millis = (time.perf_counter() - started) * 1000
        say(f"{self.command} {self.path.partition('?')[0]} {reply.status} {millis:.0f}ms {answered_by}")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return b""
        if not raw_length.strip().isdigit():
            raise _BadBody(gateway_reply(BAD_REQUEST))
        length = int(raw_length)
        if length > MAX_BODY_BYTES:
            raise _BadBody(gateway_reply(TOO_LARGE))
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        body = b""
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise _BadBody(gateway_reply(BAD_REQUEST)) from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return body
            if len(body) + size > MAX_BODY_BYTES:
                raise _BadBody(gateway_reply(TOO_LARGE))
            body += self.rfile.read(size)
            self.rfile.readline(8)

    def _write(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and reply.status not in (204, 304):
            self.wfile.write(reply.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, unsupported version, ...) in the gateway's shape."""
        self.close_connection = True
        self._write(gateway_reply((code, HTTPStatus(code).phrase)))

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # _dispatch logs one line per request, with the function and the time taken

    def log_message(self, format: str, *args: Any) -> None:
        complain(f"http: {format % args}")


class _BadBody(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def openapi_hook() -> Callable[[], dict[str, Any]] | None:
    """`local/openapi.py`'s document(), when that module exists."""
    try:
        module = importlib.import_module("local.openapi")
    except ModuleNotFoundError as exc:
        if exc.name != "local.openapi":
            raise
        return None
    document: Callable[[], dict[str, Any]] = module.document
    return document


# --- the schedule --------------------------------------------------------------------------------

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(second|minute|hour|day)s?\s*\)$")
_UNIT_SECS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def schedule_interval(expression: str | None, override: str | None = None) -> tuple[float | None, str]:
    """Seconds between runs (None: never) and a sentence saying why.

    `rate(N unit)` is honoured; cron() and at() run at a fixed interval locally.
    CLEANUP_INTERVAL_SECS (`override`) wins: 0 turns the schedule off.
    """
    if override is not None and override.strip():
        secs = float(override)
        if secs <= 0:
            return None, "off (CLEANUP_INTERVAL_SECS=0)"
        return secs, f"every {secs:g}s (CLEANUP_INTERVAL_SECS)"
    if not expression:
        return None, "no schedule"
    rate = _RATE.match(expression.strip())
    if rate:
        secs = int(rate.group(1)) * _UNIT_SECS[rate.group(2)]
        return float(secs), f"every {secs}s ({expression})"
    return float(CRON_FALLBACK_SECS), (
        f"every {CRON_FALLBACK_SECS}s: local runs use a fixed interval for {expression}; "
        "set CLEANUP_INTERVAL_SECS to change it"
    )


class Scheduler:
    """Runs each scheduled function every interval, as EventBridge Scheduler would."""

    def __init__(self, pool: LambdaPool, jobs: dict[str, float]) -> None:
        self.pool = pool
        self.jobs = jobs
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n, s), daemon=True) for n, s in jobs.items()]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def _run(self, name: str, interval: float) -> None:
        while not self._stop.wait(interval):
            started = time.perf_counter()
            try:
                result = self.pool.invoke(name, scheduled_event())
            except InvokeError as exc:
                complain(f"[{name}] scheduled run failed: {exc.error['errorType']}: {exc.error['errorMessage']}")
                continue
            except (PoolBusy, PoolClosed):
                continue
            say(f"SCHEDULE {name} {json.dumps(result)} {(time.perf_counter() - started) * 1000:.0f}ms")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)


# --- main ----------------------------------------------------------------------------------------


class PortTaken(Exception):
    def __init__(self, port: int, variable: str, reason: str) -> None:
        super().__init__(
            f"error: port {port} ({variable}) {reason}; set {variable} to a free port, e.g. {variable}={port + 1}"
        )


def env_port(variable: str, default: int) -> int:
    raw = os.environ.get(variable, "").strip() or str(default)
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise SystemExit(f"error: {variable}={raw!r} is not a port number")
    return int(raw)


def _reason(exc: OSError) -> str:
    return "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be used: {exc.strerror}"


def bind_front(port: int) -> FrontServer:
    """Claim the port now; the server listens (server_activate) only once the stack is ready,
    so a client sees "connection refused" until then rather than a request that hangs."""
    server = FrontServer((HOST, port), FrontHandler, bind_and_activate=False)
    try:
        server.server_bind()
    except OSError as exc:
        server.server_close()
        raise PortTaken(port, "PORT", _reason(exc)) from None
    return server


def check_free(port: int, variable: str) -> None:
    """Fail early and clearly: moto's server thread would otherwise hang on a taken port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug binds
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            raise PortTaken(port, variable, _reason(exc)) from None


def banner(
    base_url: str,
    endpoint: str,
    provisioned: aws.Provisioned,
    router: Router,
    key_source: str,
    schedules: list[str],
    iam: sigv4.Account | None = None,
) -> str:
    aws_cli = f"aws --endpoint-url {endpoint} --region {REGION}"
    if iam is None:
        auth = ["  auth                 none (AUTH=iam checks SigV4 as the deployed API does)"]
        curl = "curl -s"
    else:
        auth = [
            f"  auth                 IAM: SigV4 for {sigv4.SERVICE} in {iam.region}, with the emulated account's",
            f"                       temporary credentials: key {iam.access_key}, secret {iam.secret_key},"
            f" session token {iam.session_token} (sent as X-Amz-Security-Token)",
        ]
        curl = (
            f"curl -s --aws-sigv4 aws:amz:{iam.region}:{sigv4.SERVICE} --user {iam.access_key}:{iam.secret_key}"
            f" -H 'x-amz-security-token: {iam.session_token}'"
        )
    lines = [
        f"SWAIG session service, local stack: {base_url}",
        f"  emulated AWS (moto)  {endpoint}",
        f"  table                {provisioned.table_name}",
        f"  signing key secret   {provisioned.secret_id}",
        f"  signing key          {key_source}",
        *auth,
        *[f"  schedule             {s}" for s in schedules],
        "  routes:",
        *[f"    {route.method:<7}{route.path:<36}{target}" for route, target in router.routes],
        "  inspect it with the AWS CLI (any credentials do, e.g. AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x):",
        f"    {aws_cli} dynamodb scan --table-name {provisioned.table_name}",
        f"    {aws_cli} secretsmanager get-secret-value --secret-id {provisioned.secret_id}",
        f"  try: {curl} -X POST {base_url}/sessions -H 'content-type: application/json' -d '{{}}'",
        "Ctrl-C stops it.",
    ]
    return "\n".join(lines)


def scheduled_jobs(functions: dict[str, Function], override: str | None) -> tuple[dict[str, float], list[str]]:
    """Each scheduled function's interval, and a line per function for the banner."""
    jobs, lines = {}, []
    for name, fn in functions.items():
        if fn.schedule is None:
            continue
        interval, why = schedule_interval(fn.schedule, override)
        lines.append(f"{name} {why}")
        if interval is not None:
            jobs[name] = interval
    return jobs, lines


def auth_mode(raw: str | None) -> sigv4.Account | None:
    """AUTH: empty or `none` (every route open) or `iam` (SigV4 with the emulated account's credentials)."""
    mode = (raw or "none").strip().lower()
    if mode not in ("none", "iam"):
        raise ValueError(f"AUTH={raw!r}: use AUTH=iam, or leave it unset")
    return sigv4.Account() if mode == "iam" else None


def run(server: FrontServer, aws_port: int, stop: threading.Event, iam: sigv4.Account | None = None) -> None:
    """Everything after the ports are claimed: moto, provisioning, the pool, serving until `stop`."""
    from .moto_server import MotoServer

    try:
        with MotoServer(HOST, aws_port) as moto:
            endpoint = moto.endpoint
            signing_key = aws.local_signing_key()  # checked in main()
            provisioned = aws.provision(*aws.clients(endpoint), signing_key=signing_key)
            functions = template.functions(provisioned.refs())
            jobs, schedules = scheduled_jobs(functions, os.environ.get("CLEANUP_INTERVAL_SECS"))
            pool = LambdaPool(functions, endpoint)
            scheduler = Scheduler(pool, jobs)
            try:
                server.front = Front(functions, pool, openapi_hook(), iam=iam)
                server.server_activate()
                threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
                scheduler.start()
                key_source = "LOCAL_SIGNING_KEY" if signing_key else "random (set LOCAL_SIGNING_KEY to choose it)"
                base_url = f"http://{HOST}:{server.server_address[1]}"
                say(banner(base_url, endpoint, provisioned, server.front.router, key_source, schedules, iam))
                while not stop.wait(0.5):  # a timed wait: signal handlers run between waits
                    pass
                say("stopping...")
                server.shutdown()
            finally:
                pool.close()  # before the scheduler: a run in progress ends with its worker
                scheduler.stop()
    finally:
        server.server_close()


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request access log
    port, aws_port = env_port("PORT", 3000), env_port("AWS_PORT", 5000)
    try:
        schedule_interval(None, os.environ.get("CLEANUP_INTERVAL_SECS"))
    except ValueError:
        complain(f"error: CLEANUP_INTERVAL_SECS={os.environ['CLEANUP_INTERVAL_SECS']!r} is not a number of seconds")
        return 2
    try:
        aws.local_signing_key()
        iam = auth_mode(os.environ.get("AUTH"))
    except ValueError as exc:
        complain(f"error: {exc}")
        return 2
    try:
        server = bind_front(port)
    except PortTaken as exc:
        complain(str(exc))
        return 1
    try:
        check_free(aws_port, "AWS_PORT")
    except PortTaken as exc:
        server.server_close()
        complain(str(exc))
        return 1

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    run(server, aws_port, stop, iam)
    say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
