"""What the Lambda runtime gives a handler: a context object and HTTP API v2 events."""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class LambdaContext:
    function_name: str = "local"
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 5000


def http_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    route_key: str | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    raw_body: bytes | None = None,
    path_parameters: dict[str, str] | None = None,
    cookies: list[str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, as API Gateway builds it.

    `path` is the decoded path (router.decode_path), as API Gateway sends rawPath; the
    path parameters too are decoded values.
    `body` is JSON-encoded; `raw_body` is sent as is (base64 when it is not UTF-8 text).
    `query` is the raw query string; repeated names are joined with commas, as API Gateway does.
    """
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    is_base64 = False
    text: str | None = None
    if raw_body is not None:
        try:
            text = raw_body.decode("utf-8")
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(raw_body).decode(), True
    elif body is not None:
        text = json.dumps(body)
        headers.setdefault("content-type", "application/json")
    request_id = str(uuid.uuid4())
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key or f"{method.upper()} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", "local"),
            },
            "requestId": request_id,
            "routeKey": route_key or f"{method.upper()} {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": is_base64,
    }
    if text is not None:
        event["body"] = text
    if query:
        params: dict[str, list[str]] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            params.setdefault(name, []).append(value)
        event["queryStringParameters"] = {name: ",".join(values) for name, values in params.items()}
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if cookies:
        event["cookies"] = list(cookies)
    return event


def scheduled_event() -> dict[str, Any]:
    """What an EventBridge Scheduler target receives (the cleanup function ignores its content)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "123456789012",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": "us-east-1",
        "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/cleanup"],
        "detail": {},
    }


_loaded: dict[Path, ModuleType] = {}


def handler_from_file(code_dir: Path, handler: str = "app.lambda_handler") -> Any:
    """`handler` (module.attribute) of a function's code folder, its module loaded once per process
    under a unique name: every function's module is called app.py."""
    module_file, _, attr = handler.rpartition(".")
    path = (code_dir / f"{module_file}.py").resolve()
    if path not in _loaded:
        name = f"_handler_{code_dir.name}_{module_file}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None, path
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and typing look modules up by name
        spec.loader.exec_module(module)
        _loaded[path] = module
    return getattr(_loaded[path], attr)
