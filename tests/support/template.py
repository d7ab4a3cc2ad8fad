"""template.yaml as the template tests read it: packaged as `sam package` uploads it, and its parts by type."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from samtranslator.yaml_helper import yaml_parse

from local import template


class NoManagedPolicyNames:
    """The ManagedPolicyLoader CloudFormation passes; the template names policies by ARN only."""

    def load(self) -> dict[str, str]:
        raise AssertionError("the template refers to a managed policy by name")


def source() -> dict[str, Any]:
    """template.yaml as written (intrinsic functions in their long form)."""
    parsed: dict[str, Any] = yaml_parse(template.TEMPLATE.read_text())
    return parsed


def as_packaged(source: dict[str, Any]) -> dict[str, Any]:
    """The template as `sam package` uploads it: each local code folder replaced by its S3 location."""
    packaged = copy.deepcopy(source)
    for logical_id, res in packaged["Resources"].items():
        props = res.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://deployment-bucket/{logical_id}.zip"
    return packaged


def of_type(resources: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in resources.items() if v["Type"] == kind}


def dashboard_body(monitoring: dict[str, Any]) -> dict[str, Any]:
    """The monitoring stack's dashboard as JSON, after checking it substitutes only what it may."""
    functions = of_type(source()["Resources"], "AWS::Serverless::Function")
    (dashboard,) = of_type(monitoring["Resources"], "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    refs = set(re.findall(r"\$\{([^}]+)\}", body))
    assert refs <= {"AWS::Region", "HttpApi", "Stage", *functions}, refs
    return dict(json.loads(re.sub(r"\$\{[^}]+\}", "x", body)))
