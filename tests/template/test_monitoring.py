"""templates/monitoring.yaml, the nested application `Monitoring`: written by templates/monitoring.py
from template.yaml's functions, and wired so that each name means in it what it means in the root.

What the log groups, alarms and dashboard hold is tests/template/test_operations.py's.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from local import template
from templates import monitoring as generator
from tests.support.template import source as template_source


@pytest.fixture(scope="module")
def nested(source: dict[str, Any]) -> dict[str, Any]:
    return template.application("Monitoring", source)


def test_the_committed_template_is_what_the_generator_writes(source: dict[str, Any]) -> None:
    location = template.ROOT / source["Resources"]["Monitoring"]["Properties"]["Location"]
    assert location == generator.OUTPUT
    assert location.read_text() == generator.render(source), "run `make monitoring` and commit the result"


def test_each_parameter_is_the_root_s_resource_or_parameter_of_that_name(
    source: dict[str, Any], nested: dict[str, Any]
) -> None:
    """So a `Ref` or `${...}` in the nested template reads as it would in the root."""
    app = source["Resources"]["Monitoring"]
    assert app["Type"] == "AWS::Serverless::Application"
    assert app["Properties"]["Parameters"] == {name: {"Ref": name} for name in nested["Parameters"]}
    for name, spec in nested["Parameters"].items():
        if name in source["Parameters"]:
            assert spec["Type"] == source["Parameters"][name]["Type"], name
        else:
            assert name in source["Resources"], name
            assert spec["Type"] == "String", name  # a Ref to a resource is its name, id or ARN


def test_nothing_in_the_nested_template_is_named_as_in_the_root(source: dict[str, Any], nested: dict[str, Any]) -> None:
    # A logical id in both would read as the root's in one file and the nested stack's in the other.
    assert not set(nested["Resources"]) & (set(source["Resources"]) | set(source["Parameters"]))


def test_the_dashboard_url_names_the_nested_dashboard(source: dict[str, Any], nested: dict[str, Any]) -> None:
    url = source["Outputs"]["DashboardUrl"]["Value"]["Fn::Sub"]
    (output,) = re.findall(r"\$\{Monitoring\.Outputs\.(\w+)\}", url)
    assert nested["Outputs"][output]["Value"] == {"Ref": "Dashboard"}
    assert nested["Resources"]["Dashboard"]["Type"] == "AWS::CloudWatch::Dashboard"


def test_every_function_s_monitoring_follows_the_functions(source: dict[str, Any]) -> None:
    """A function added to the root gets its log group and alarms from the generator, not by hand."""
    added = template_source()
    added["Resources"]["ExtraFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "CodeUri": "functions/extra/",
            "Events": {"Get": {"Type": "HttpApi", "Properties": {"Path": "/extra", "Method": "GET"}}},
        },
    }
    written = yaml_parse(generator.render(added))
    assert written["Parameters"]["ExtraFunction"]["Type"] == "String"
    for suffix in ("LogGroup", "ErrorLogs", "ErrorsAlarm", "ThrottlesAlarm"):
        assert f"ExtraFunction{suffix}" in written["Resources"], suffix
    assert written["Resources"]["ExtraFunctionThrottlesAlarm"]["Properties"]["AlarmName"] == {
        "Fn::Sub": "${AWS::StackName}-extra-throttles"
    }
    assert "${ExtraFunction}" in written["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
