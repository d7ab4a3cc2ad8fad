"""One OpenAPI document for the whole HTTP API, generated from the handlers' own resolvers.

Each function in template.yaml with routes is loaded and its Powertools resolver asked for
its schema (`get_openapi_schema()`); the paths are merged into one document. The request
and response bodies come from the route decorators (session_core.schemas); this module
adds what no single resolver knows: the title, the IAM auth API Gateway enforces, and the
`call_id` path parameter's rules (the handlers take it as a plain `str`).

    python -m local.openapi > openapi.json    # the document, as `make serve` serves it at /openapi.json
    make openapi                              # the same, written to openapi.json (git-ignored)

The resolvers are loaded in a child process: importing handlers sets up Powertools (logger,
metrics, tracer patching) and that must not happen inside the local stack's front.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

from .aws import SECRET_ID, TABLE_ID
from .lambda_runtime import handler_from_file
from .template import ROOT, functions

TITLE = "SWAIG session service"
VERSION = "1.0.0"
DESCRIPTION = (
    "Issues and checks the per-call, per-function tokens SignalWire AI agents put on SWAIG webhooks "
    "(byte-compatible with the SDK's SessionManager) and keeps per-call session metadata. "
    "Deployed, every route requires SigV4 signing (service execute-api); errors are always "
    '`{"error": code, "message": sentence}`.'
)
SIGV4 = {
    "type": "apiKey",
    "name": "Authorization",
    "in": "header",
    "description": "AWS Signature Version 4 (service execute-api); API Gateway's AWS_IAM authorizer checks it",
    "x-amazon-apigateway-authtype": "awsSigv4",
}


def _resolver_schema(code_dir: Path) -> dict[str, Any]:
    """The OpenAPI schema one handler's resolver generates (its module loaded from its file)."""
    schema: dict[str, Any] = (
        handler_from_file(code_dir, "app.app")
        .get_openapi_schema()
        .model_dump(mode="json", by_alias=True, exclude_none=True)
    )
    return schema


def _referenced(document: dict[str, Any]) -> set[str]:
    text = json.dumps(document["paths"])
    return {name for name in document["components"]["schemas"] if f"#/components/schemas/{name}" in text}


def build() -> dict[str, Any]:
    """Generate the document in this process (see `document()` for the isolated, cached one)."""
    from session_core import schemas as route_schemas

    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for fn in functions({TABLE_ID: "table", SECRET_ID: "secret"}).values():  # names unused here
        if not fn.routes:
            continue
        generated = _resolver_schema(fn.code_dir)
        for path, operations in generated["paths"].items():
            assert not set(operations) & set(paths.get(path, {})), f"{path} is served twice"
            paths.setdefault(path, {}).update(operations)
        schemas.update(generated.get("components", {}).get("schemas", {}))
    for operations in paths.values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] == "call_id":
                    parameter["schema"] = route_schemas.CALL_ID
                    parameter["description"] = route_schemas.PATH_CALL_ID_DESCRIPTION
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "servers": [{"url": "/", "description": "the local stack; deployed: the stack's ApiUrl output"}],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas, "securitySchemes": {"sigv4": SIGV4}},
        "security": [{"sigv4": []}],
    }
    unused = set(schemas) - _referenced(document)  # Powertools' validation-error models: validation is off
    for name in unused:
        del document["components"]["schemas"][name]
    if not document["components"]["schemas"]:
        del document["components"]["schemas"]
    return document


@cache
def document() -> dict[str, Any]:
    """The document, generated once in a child process (what GET /openapi.json serves)."""
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "shared")])
    result = subprocess.run([sys.executable, "-m", "local.openapi"], cwd=ROOT, env=env, capture_output=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"generating the OpenAPI document failed:\n{result.stderr.decode(errors='replace')}")
    generated: dict[str, Any] = json.loads(result.stdout)
    return generated


if __name__ == "__main__":
    # Run from the repository root, the core layer's folder is not on the path as it is in Lambda
    # (and in document()'s child): put it there before a handler imports session_core.
    if str(ROOT / "shared") not in sys.path:
        sys.path.insert(0, str(ROOT / "shared"))
    # The handlers' modules log (a cold start's settings check, for one); their lines go to stderr,
    # so stdout holds the document alone.
    with contextlib.redirect_stdout(sys.stderr):
        built = build()
    json.dump(built, sys.stdout, indent=2)
    sys.stdout.write("\n")
