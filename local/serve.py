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

import errno
import logging
import os
import signal
import socket
import sys
import threading
from types import FrameType

from . import aws, openapi, sigv4, template
from .aws import HOST, REGION
from .console import complain, say
from .front import Front
from .http_server import FrontHandler, FrontServer
from .lambda_pool import LambdaPool
from .router import Router
from .schedule import Scheduler, schedule_interval, scheduled_jobs


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
                server.front = Front(functions, pool, openapi.document, iam=iam)
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
