"""template.yaml's operational resources: log groups with a retention, API access logs and
throttling, alarms for each function and for the service's failure modes, the dashboard, and
the lint rules (serverless rules included) the template is kept clean of.

Checked on the translated template (what CloudFormation deploys) where SAM generates the
resource (the API stage, the alias), on the source otherwise. The functions' log groups, the
alarms and the dashboard are in the nested application `Monitoring` (templates/monitoring.yaml),
whose parameters are the root's resources and parameters of the same names
(tests/template/test_monitoring.py), so a `Ref` reads the same in either file.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from session_rules.codes import Reason

from local import template
from tests.support.template import NoManagedPolicyNames, as_packaged, of_type
from tests.support.template import source as template_source

FUNCTIONS = sorted(of_type(template_source()["Resources"], "AWS::Serverless::Function"))
# The alarm actions every alarm carries: the given topic, the email topic, or neither.
NOTIFY = [
    {"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AWS::NoValue"}]},
    {"Fn::If": ["HasAlarmEmail", {"Ref": "AlarmEmailTopic"}, {"Ref": "AWS::NoValue"}]},
]
CFN_LINT = Path(sys.executable).with_name("cfn-lint")
MONITORING = template.ROOT / template.resource("Monitoring")["Properties"]["Location"]


@pytest.fixture(scope="module")
def monitoring(source: dict[str, Any]) -> dict[str, Any]:
    return template.application("Monitoring", source)


@pytest.fixture(scope="module")
def resources(source: dict[str, Any]) -> dict[str, Any]:
    """The translated template's resources (parameters at their defaults)."""
    return dict(transform(as_packaged(source), {}, NoManagedPolicyNames())["Resources"])


def alarms(source: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return of_type(source["Resources"], "AWS::CloudWatch::Alarm")


# --- Logs ----------------------------------------------------------------------------------------


def test_every_function_has_its_log_group_with_the_retention(
    source: dict[str, Any], monitoring: dict[str, Any]
) -> None:
    groups = of_type({**source["Resources"], **monitoring["Resources"]}, "AWS::Logs::LogGroup")
    by_name = {json.dumps(g["Properties"]["LogGroupName"]): g for g in groups.values()}
    for function_id in FUNCTIONS:
        group = by_name.pop(json.dumps({"Fn::Sub": f"/aws/lambda/${{{function_id}}}"}), None)
        assert group is not None, f"{function_id} has no /aws/lambda log group"
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, function_id
        # Deleted with the stack: a Retain'd group would make a redeploy fail ("already exists").
        assert group.get("DeletionPolicy", "Delete") == "Delete", function_id
    assert list(by_name) == [json.dumps({"Fn::Sub": "/aws/apigateway/${AWS::StackName}/access"})]


def test_rotation_waits_for_the_rotate_log_group(source: dict[str, Any], monitoring: dict[str, Any]) -> None:
    # Setting up rotation runs the function at once; without its group, Lambda would create one first.
    assert "RotateFunctionLogGroup" in monitoring["Resources"]
    assert "Monitoring" in source["Resources"]["SigningKeyRotation"]["DependsOn"]


def test_api_access_log_is_json_with_the_caller_and_outcome(resources: dict[str, Any]) -> None:
    (stage,) = of_type(resources, "AWS::ApiGatewayV2::Stage").values()
    settings = stage["Properties"]["AccessLogSettings"]
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert resources["ApiAccessLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    # Every variable substituted by a string keeps it JSON: messageString comes quoted already.
    sample = re.sub(r"\$context\.error\.messageString", '"m"', settings["Format"])
    fields = json.loads(re.sub(r"\$context\.[A-Za-z.]+", "x", sample))
    variables = dict(re.findall(r'"(\w+)":"?\$context\.([A-Za-z.]+)', settings["Format"]))
    for field, variable in {
        "requestId": "requestId",
        "callerArn": "identity.userArn",
        "callerAccount": "identity.accountId",
        "routeKey": "routeKey",
        "status": "status",
        "responseLatency": "responseLatency",
        "integrationError": "integrationErrorMessage",
    }.items():
        assert variables.get(field) == variable, field
    assert set(fields) == set(variables)


def test_api_default_route_throttling(resources: dict[str, Any]) -> None:
    (stage,) = of_type(resources, "AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
    }


# --- Data kept --------------------------------------------------------------------------------


def test_signing_secret_is_kept_as_the_table_is(source: dict[str, Any]) -> None:
    table, secret = source["Resources"]["SessionsTable"], source["Resources"]["SigningKeySecret"]
    for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
        assert table[policy] == "Retain", policy
        assert secret[policy] == table[policy], policy


# --- Alarms ------------------------------------------------------------------------------------


def watched(alarm: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(namespace, metric, function) of each Lambda metric an alarm reads, one metric or metric math."""
    props = alarm["Properties"]
    stats = [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
    found = []
    for metric in stats or [props]:
        for dimension in metric.get("Dimensions", []):
            if dimension["Name"] == "FunctionName":
                found.append((metric["Namespace"], metric["MetricName"], dimension["Value"]["Ref"]))
    return found


def test_every_function_has_errors_and_throttles_alarms(monitoring: dict[str, Any]) -> None:
    found = {metric for a in alarms(monitoring).values() for metric in watched(a)}
    for function_id in FUNCTIONS:
        for metric in ("Errors", "Throttles"):
            assert ("AWS/Lambda", metric, function_id) in found, (function_id, metric)


def test_an_api_function_s_errors_alarm_counts_the_failures_it_answers_itself(
    source: dict[str, Any], monitoring: dict[str, Any]
) -> None:
    """A handler answers its failures (a logged 500): Lambda counts no error, so the log lines are counted."""
    # tests/functions/test_http.py proves a handler's 500 is a log line with "level": "ERROR".
    filters = of_type(monitoring["Resources"], "AWS::Logs::MetricFilter")
    routed = [f for f in FUNCTIONS if source["Resources"][f]["Properties"].get("Events")]
    routed = [
        f
        for f in routed
        if any(e["Type"] == "HttpApi" for e in source["Resources"][f]["Properties"]["Events"].values())
    ]
    assert len(routed) == 6
    for function_id in routed:
        (log_filter,) = [
            f["Properties"]
            for f in filters.values()
            if f["Properties"]["LogGroupName"] == {"Ref": f"{function_id}LogGroup"}
        ]
        assert log_filter["FilterPattern"] == '{ $.level = "ERROR" }'
        (transform,) = log_filter["MetricTransformations"]
        (alarm,) = [a for a in alarms(monitoring).values() if ("AWS/Lambda", "Errors", function_id) in watched(a)]
        stats = [m["MetricStat"]["Metric"] for m in alarm["Properties"]["Metrics"] if "MetricStat" in m]
        assert {"Namespace": transform["MetricNamespace"], "MetricName": transform["MetricName"]} in stats, function_id


def test_service_failure_alarms(monitoring: dict[str, Any]) -> None:
    by_id = alarms(monitoring)
    rate = by_id["Api5xxRateAlarm"]["Properties"]
    stats = {m["Id"]: m["MetricStat"]["Metric"] for m in rate["Metrics"] if "MetricStat" in m}
    assert (stats["errors"]["MetricName"], stats["requests"]["MetricName"]) == ("5xx", "Count")
    assert {"Name": "ApiId", "Value": {"Ref": "HttpApi"}} in stats["errors"]["Dimensions"]
    assert rate["Threshold"] == {"Ref": "Api5xxAlarmPercent"}

    assert watched(by_id["RotationFailingAlarm"]) == [("AWS/Lambda", "Errors", "RotateFunction")]
    latency = by_id["ValidateLatencyAlarm"]
    assert watched(latency) == [("AWS/Lambda", "Duration", "ValidateFunction")]
    assert latency["Properties"]["ExtendedStatistic"] == "p99"
    assert latency["Properties"]["Threshold"] == {"Ref": "ValidateP99AlarmMs"}


def evaluate(expression: str, parameters: dict[str, Any], **series: float) -> float:
    """One datapoint of a metric-math expression: IF, FILL (of a present value) and arithmetic."""
    text = re.sub(r"\$\{(\w+)\}", lambda m: str(parameters[m.group(1)]["Default"]), expression)
    text = re.sub(r"FILL\((\w+), *[\d.]+\)", r"\1", text)
    assert re.fullmatch(r"[\w\s()*/+\-<>=,.]+", text), text  # nothing but what is replaced here
    text = text.replace("IF(", "_if(")

    def _if(condition: bool, when_true: float, when_false: float) -> float:
        return when_true if condition else when_false

    return float(eval(text, {"__builtins__": {}, "_if": _if}, dict(series)))  # only the characters checked above


def returned(alarm: dict[str, Any]) -> str:
    (expression,) = [m["Expression"] for m in alarm["Properties"]["Metrics"] if m.get("ReturnData")]
    return expression["Fn::Sub"] if isinstance(expression, dict) else str(expression)


def test_the_5xx_rate_alarm_needs_a_minimum_volume(source: dict[str, Any], monitoring: dict[str, Any]) -> None:
    """One 503 among a handful of requests pages nobody; a real share of failures at volume does."""
    params = source["Parameters"]
    alarm = alarms(monitoring)["Api5xxRateAlarm"]
    expression = returned(alarm)
    threshold, minimum = params["Api5xxAlarmPercent"]["Default"], params["Api5xxAlarmMinRequests"]["Default"]
    assert alarm["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"
    few = minimum - 1
    assert evaluate(expression, params, errors=1, requests=few) <= threshold  # 1 of a few: no alarm
    assert evaluate(expression, params, errors=few, requests=few) <= threshold  # even all of a few
    many = minimum * 10
    assert evaluate(expression, params, errors=many * (threshold + 1) / 100, requests=many) > threshold
    assert evaluate(expression, params, errors=0, requests=many) == 0


def test_one_alarm_for_a_failing_cleanup(
    source: dict[str, Any], monitoring: dict[str, Any], resources: dict[str, Any]
) -> None:
    """Cleanup runs once per schedule tick; one alarm pages when runs keep failing or stop, none on a fresh stack."""
    (invoke_config,) = of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
    assert invoke_config["Properties"]["FunctionName"] == {"Ref": "CleanupFunction"}
    assert invoke_config["Properties"]["MaximumRetryAttempts"] == 0  # the schedule does not retry either

    (alarm,) = [a for a in alarms(monitoring).values() if ("AWS/Lambda", "Errors", "CleanupFunction") in watched(a)]
    props = alarm["Properties"]
    assert sorted(watched(alarm)) == [
        ("AWS/Lambda", "Errors", "CleanupFunction"),
        ("AWS/Lambda", "Invocations", "CleanupFunction"),
    ]
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == ({"Ref": "CleanupAlarmHours"},) * 2
    for metric in props["Metrics"]:
        if "MetricStat" in metric:
            assert metric["MetricStat"]["Period"] == 3600
    expression = returned(alarm)
    params = source["Parameters"]
    assert evaluate(expression, params, invocations=4, errors=4) < props["Threshold"]  # every run failed
    assert evaluate(expression, params, invocations=4, errors=3) >= props["Threshold"]  # one succeeded
    # An hour without a run must stay missing data (never filled in, which would breach on a fresh
    # stack), and all-missing must notify: INSUFFICIENT_DATA with the alarm's actions.
    assert "FILL(invocations" not in expression
    assert props["TreatMissingData"] == "missing"
    assert props["InsufficientDataActions"] == NOTIFY
    description = props["AlarmDescription"]["Fn::Sub"]
    assert "API" not in description and "rotation" not in description


def test_rotation_failures_reach_the_alarm_topic(monitoring: dict[str, Any]) -> None:
    """Secrets Manager's own failure events for this stack's key go where the alarms go."""
    resources = monitoring["Resources"]
    (rule_id, rule) = next(iter(of_type(resources, "AWS::Events::Rule").items()))
    assert monitoring["Conditions"][rule["Condition"]] == {
        "Fn::Or": [{"Condition": "HasAlarmTopic"}, {"Condition": "HasAlarmEmail"}]
    }
    pattern = rule["Properties"]["EventPattern"]
    assert (pattern["source"], pattern["detail-type"]) == (["aws.secretsmanager"], ["AWS Service Event via CloudTrail"])
    assert {"RotationFailed", "RotationAbandoned"} <= set(pattern["detail"]["eventName"])
    assert pattern["detail"]["additionalEventData"] == {"SecretId": [{"Ref": "SigningKeySecret"}]}
    targets = [
        (target["Fn::If"][0], target["Fn::If"][1]["Arn"], target["Fn::If"][2])
        for target in rule["Properties"]["Targets"]
    ]
    assert targets == [(n["Fn::If"][0], n["Fn::If"][1], n["Fn::If"][2]) for n in NOTIFY]

    # The email topic's policy lets both the alarms and this rule publish (it replaces the default).
    (policy,) = of_type(resources, "AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [{"Ref": "AlarmEmailTopic"}]
    publishers = {
        s["Principal"]["Service"]: s["Condition"] for s in policy["Properties"]["PolicyDocument"]["Statement"]
    }
    assert publishers["events.amazonaws.com"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}
    assert "cloudwatch.amazonaws.com" in publishers


def test_every_alarm_notifies_the_optional_topic_or_email(source: dict[str, Any], monitoring: dict[str, Any]) -> None:
    params = source["Parameters"]
    assert params["AlarmTopicArn"]["Default"] == "" and params["AlarmEmail"]["Default"] == ""
    assert monitoring["Resources"]["AlarmEmailTopic"]["Condition"] == "HasAlarmEmail"
    assert monitoring["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert monitoring["Conditions"]["HasAlarmTopic"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}
    for alarm_id, alarm in alarms(monitoring).items():
        assert alarm["Properties"]["AlarmActions"] == NOTIFY, alarm_id
        assert alarm["Properties"]["OKActions"] == NOTIFY, alarm_id


# --- Dashboard ---------------------------------------------------------------------------------


# --- Provisioned concurrency -------------------------------------------------------------------


def test_validate_provisioned_concurrency_is_optional(source: dict[str, Any], resources: dict[str, Any]) -> None:
    assert source["Parameters"]["ValidateProvisionedConcurrency"]["Default"] == 0
    assert source["Conditions"]["HasValidateProvisionedConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ValidateProvisionedConcurrency"}, 0]}]
    }
    (alias,) = of_type(resources, "AWS::Lambda::Alias").values()
    assert alias["Properties"]["FunctionName"] == {"Ref": "ValidateFunction"}
    assert alias["Properties"]["ProvisionedConcurrencyConfig"] == {
        "Fn::If": [
            "HasValidateProvisionedConcurrency",
            {"ProvisionedConcurrentExecutions": {"Ref": "ValidateProvisionedConcurrency"}},
            {"Ref": "AWS::NoValue"},
        ]
    }


# --- Lint ----------------------------------------------------------------------------------------


def test_cfn_lint_with_the_serverless_rules_is_clean() -> None:
    run = subprocess.run(
        [str(CFN_LINT), "--append-rules", "cfn_lint_serverless.rules", "--", str(template.TEMPLATE), str(MONITORING)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


# --- What the documentation and the code say of the parameters ------------------------------------


def test_every_parameter_is_in_the_deploy_walkthrough_in_order(source: dict[str, Any]) -> None:
    """`sam deploy --guided` asks for each parameter in the template's order; the walkthrough lists them so."""
    walkthrough = (template.ROOT / "docs" / "deploy.md").read_text()
    prompted = [
        line.split("Parameter ")[1].split(" [")[0] for line in walkthrough.splitlines() if "`Parameter " in line
    ]
    assert prompted == list(source["Parameters"])


def test_token_defaults_are_the_rules_defaults(source: dict[str, Any]) -> None:
    """The template's defaults and the code's (settings, the client's local check) are one value each."""
    from session_rules import limits

    parameters = source["Parameters"]
    assert parameters["TokenExpirySecs"]["Default"] == limits.DEFAULT_TOKEN_EXPIRY_SECS
    assert parameters["MaxTokenLifetimeSecs"]["Default"] == limits.DEFAULT_MAX_TOKEN_LIFETIME_SECS


def test_operations_doc_counts_what_the_template_creates(monitoring: dict[str, Any]) -> None:
    """The alarm and metric counts docs/operations.md prices are the template's and the code's."""

    doc = (template.ROOT / "docs" / "operations.md").read_text()
    by_id = alarms(monitoring)
    math = [a for a in by_id.values() if "Metrics" in a["Properties"]]
    read = sum(len([m for m in a["Properties"].get("Metrics", []) if "MetricStat" in m]) or 1 for a in by_id.values())
    fine = [a for a in by_id.values() if a["Properties"].get("TreatMissingData") == "notBreaching"]
    assert f"The stack creates {len(by_id)} CloudWatch alarms" in doc
    assert f"{read} for the {len(by_id)} (the {len(math)} metric-math alarms read two each)" in doc
    assert f"${read * 0.10:.2f}" in doc
    assert f"the {len(fine)} alarms that treat missing data as fine" in doc

    # EMF: one metric per name and dimension value; Validations has one per result.
    emitted = set()
    for app in (template.ROOT / "functions").glob("*/app.py"):
        emitted |= set(re.findall(r'add_metric\(name="(\w+)"', app.read_text()))
    assert "Validations" in emitted
    results = len(Reason) + 1  # every refusal reason and "valid"
    assert f"(valid and the {len(Reason)} refusal reasons: {results} metrics)" in doc
    assert f"{results + len(emitted) - 1} metrics at $0.30 a month each" in doc
