"""The OpenAPI document (GET /openapi.json on the local stack) and schemathesis against the stack.

The document is generated from the handlers' resolvers (local/openapi.py) and must cover
exactly the template's routes. schemathesis then derives requests from it (its coverage,
fuzzing and stateful phases, at most MAX_EXAMPLES cases per operation) and checks every
answer: no 5xx, a documented status and content type, a body matching the documented
schema, and invalid requests rejected.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_spec_validator import validate
from session_core import inputs, schemas
from session_core.errors import BadRequest

from harness.served import ServedStack
from local import template

# The coverage phase's boundary cases come whatever the budget; the budget buys random ones beyond them.
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "100" if os.environ.get("SOAK") == "full" else "10"))
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
]


@pytest.fixture(scope="module")
def document(http: requests.Session, loud_stack: ServedStack) -> dict[str, Any]:
    reply = http.get(f"{loud_stack.base_url}/openapi.json", timeout=60)  # generated on first request
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/json")
    served: dict[str, Any] = reply.json()
    return served


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_the_document_covers_exactly_the_templates_routes(document: dict[str, Any]) -> None:
    functions = template.functions({"SessionsTable": "t", "SigningKeySecret": "s"})
    routes = {(r.method.lower(), r.path) for fn in functions.values() for r in fn.routes}
    documented = {(method, path) for path, operations in document["paths"].items() for method in operations}
    assert documented == routes


def test_every_operation_documents_its_bodies_and_errors(document: dict[str, Any]) -> None:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert any(code.startswith("2") for code in responses), (method, path)
            for code in ("400", "503"):
                schema = responses[code]["content"]["application/json"]["schema"]
                assert schema["required"] == ["error", "message"], (method, path, code)
            for code, response in responses.items():
                assert "schema" in response["content"]["application/json"], (method, path, code)
            if method in ("post", "patch"):
                assert operation["requestBody"]["content"]["application/json"]["schema"], (method, path)
            for parameter in operation.get("parameters", []):
                assert parameter["schema"] == schemas.CALL_ID, (method, path)
                assert parameter["description"] == schemas.PATH_CALL_ID_DESCRIPTION, (method, path)


def test_the_documented_limits_are_the_ones_inputs_enforces(document: dict[str, Any]) -> None:
    """Cross-check: the boundary each schema states is where inputs.py starts refusing."""
    validate_body = document["paths"]["/tokens/validate"]["post"]["requestBody"]["content"]["application/json"]
    fields = validate_body["schema"]["properties"]
    call_id, function, token = fields["call_id"], fields["function"], fields["token"]
    assert inputs.call_id("c" * call_id["maxLength"])
    with pytest.raises(BadRequest):
        inputs.call_id("c" * (call_id["maxLength"] + 1))
    for bad in ("a b", "a\tb", "a\x00b", "a\x85b", "a:b", "a/b", "a%41", ".", "..", "通話-1"):
        assert not re.search(call_id["pattern"], bad)
        with pytest.raises(BadRequest):
            inputs.call_id(bad)
    for good in ("root.2", "CA1234-ef", "a~b_c-d.e", ".x"):
        assert re.search(call_id["pattern"], good) and inputs.call_id(good) == good
    for name in ("a", "f" * 64, "get_weather", "book-table"):
        assert re.search(function["pattern"], name) and inputs.function_name(name) == name
    for name in ("", "f" * 65, "a.b", "é", "a b"):
        assert not re.search(function["pattern"], name)
        with pytest.raises(BadRequest):
            inputs.function_name(name)
    assert inputs.token("t" * token["maxLength"])
    with pytest.raises(BadRequest):
        inputs.token("t" * (token["maxLength"] + 1))
    mint = document["paths"]["/sessions/{call_id}/tokens"]["post"]["requestBody"]["content"]["application/json"]
    batch = mint["schema"]["oneOf"][1]["properties"]["functions"]
    assert inputs.function_names({"functions": [f"f{i}" for i in range(batch["maxItems"])]})
    with pytest.raises(BadRequest):
        inputs.function_names({"functions": [f"f{i}" for i in range(batch["maxItems"] + 1)]})
    create = document["paths"]["/sessions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    # Each optional field is its rule or null, which counts as absent (as inputs reads it).
    incarnation, lifetime = (create["properties"][name]["anyOf"][0] for name in ("incarnation", "token_expiry_secs"))
    assert (
        inputs.incarnation({"incarnation": None}) is None
        and inputs.token_lifetime({"token_expiry_secs": None}, 60) is None
    )
    for good in ("0badcafe", "00000000", "ffffffff"):
        assert re.search(incarnation["pattern"], good) and inputs.incarnation({"incarnation": good}) == good
    for bad in ("0BADCAFE", "0badcaf", "0badcafe1", "0badcafg", ""):
        assert not re.search(incarnation["pattern"], bad)
        with pytest.raises(BadRequest):
            inputs.incarnation({"incarnation": bad})
    least = int(lifetime["minimum"])  # the generator writes it as a JSON number with a fraction
    assert inputs.token_lifetime({"token_expiry_secs": least}, 60) == least
    with pytest.raises(BadRequest):
        inputs.token_lifetime({"token_expiry_secs": least - 1}, 60)
    assert mint["schema"]["properties"]["token_expiry_secs"]["anyOf"][0] == lifetime


def test_schemathesis_finds_no_server_error_and_no_schema_violation(loud_stack: ServedStack, tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{loud_stack.base_url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "4",
        "--generation-database",
        "none",
        "--suppress-health-check",
        "all",
        "--request-timeout",
        "10",
        "--no-color",
        # The local stack checks no signature; the header stands for the SigV4 one API Gateway requires.
        "--header",
        "Authorization: local-stack-checks-no-signature",
    ]
    if seed := os.environ.get("SCHEMATHESIS_SEED"):
        command += ["--seed", seed]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    summary = result.stdout[result.stdout.find("SUMMARY") :] if "SUMMARY" in result.stdout else result.stdout
    print(summary)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert re.search(r"(\d+) generated, \1 passed", result.stdout), summary
