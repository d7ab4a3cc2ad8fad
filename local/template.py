"""Reads `template.yaml`, the single source of truth, for the local stack and the tests.

Only what running locally needs: the table and secret definitions, each function's
code folder, routes, schedule and environment, with parameters at their defaults
(or overridden through the environment variable each function reads).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


@cache
def load(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as a dict, short-form intrinsics as SAM reads them (`!Ref x` -> {"Ref": x},
    `!GetAtt a.b` -> {"Fn::GetAtt": ["a", "b"]}, `!Sub s` -> {"Fn::Sub": s})."""
    parsed: dict[str, Any] = yaml_parse(path.read_text())
    return parsed


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as in the template: /sessions/{call_id}/tokens (local.router matches it)


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    routes: list[Route] = field(default_factory=list)
    schedule: str | None = None
    timeout: float = 3.0  # seconds; Lambda's default when a template says nothing
    memory: int = 128  # MB; likewise

    @property
    def name(self) -> str:
        """Short name: the code folder's (validate for functions/validate/)."""
        return self.code_dir.name


def parameters(template: dict[str, Any] | None = None) -> dict[str, str]:
    """Parameter defaults, each overridable by the environment variable the functions read for it."""
    template = template or load()
    values = {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}
    env_vars = template["Globals"]["Function"]["Environment"]["Variables"]
    for var, value in env_vars.items():
        if isinstance(value, dict) and "Ref" in value and value["Ref"] in values and var in os.environ:
            values[value["Ref"]] = os.environ[var]
    for name in ("CleanupSchedule", "Stage"):  # parameters no function reads
        override = os.environ.get(re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper())
        if override:
            values[name] = override
    return values


def application(logical_id: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """The template of a nested application (AWS::Serverless::Application), from the file it names."""
    location = resource(logical_id, template)["Properties"]["Location"]
    return load(ROOT / location)


def resource(logical_id: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    return (template or load())["Resources"][logical_id]


def resources_of_type(kind: str, template: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in (template or load())["Resources"].items() if v["Type"] == kind}


def resolve(value: Any, refs: dict[str, str]) -> Any:
    """Resolve Ref and Sub against parameters and the local names of resources."""
    if isinstance(value, dict) and "Ref" in value:
        return refs[value["Ref"]]
    if isinstance(value, dict) and "Fn::Sub" in value:
        return re.sub(r"\$\{([^}]+)\}", lambda m: refs[m.group(1)], value["Fn::Sub"])
    return value


def table_definition(logical_id: str | None = None, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """The DynamoDB table's properties (the one table unless named)."""
    tables = resources_of_type("AWS::DynamoDB::Table", template)
    return tables[logical_id or next(iter(tables))]["Properties"]


def create_table_kwargs(table_name: str, template: dict[str, Any] | None = None) -> dict[str, Any]:
    """CreateTable arguments built from the template's table (TTL is set separately)."""
    props = table_definition(template=template)
    kwargs = {
        "TableName": table_name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    return kwargs


def ttl_attribute(template: dict[str, Any] | None = None) -> str:
    return str(table_definition(template=template)["TimeToLiveSpecification"]["AttributeName"])


def secret_length(template: dict[str, Any] | None = None) -> int:
    secrets = resources_of_type("AWS::SecretsManager::Secret", template)
    return int(next(iter(secrets.values()))["Properties"]["GenerateSecretString"]["PasswordLength"])


def functions(names: dict[str, str], template: dict[str, Any] | None = None) -> dict[str, Function]:
    """Every function by short name, with its environment resolved against `names`.

    `names` maps logical ids (table, secret) to their local names; parameters are added.
    """
    template = template or load()
    refs = {**parameters(template), **names}
    defaults = template["Globals"]["Function"]
    found = {}
    for logical_id, res in resources_of_type("AWS::Serverless::Function", template).items():
        props = res["Properties"]
        env = {**defaults["Environment"]["Variables"], **props.get("Environment", {}).get("Variables", {})}
        routes, schedule = [], None
        for event in props.get("Events", {}).values():
            if event["Type"] == "HttpApi":
                routes.append(Route(event["Properties"]["Method"].upper(), event["Properties"]["Path"]))
            elif event["Type"] in ("Schedule", "ScheduleV2"):
                schedule = resolve(event["Properties"]["ScheduleExpression"], refs)
        fn = Function(
            logical_id=logical_id,
            code_dir=ROOT / props["CodeUri"],
            handler=props.get("Handler", defaults.get("Handler", "app.lambda_handler")),
            environment={k: str(resolve(v, refs)) for k, v in env.items()},
            routes=routes,
            schedule=schedule,
            timeout=float(props.get("Timeout", defaults.get("Timeout", 3))),
            memory=int(props.get("MemorySize", defaults.get("MemorySize", 128))),
        )
        found[fn.name] = fn
    return found
