"""Writes `templates/monitoring.yaml`, the stack's monitoring, from the functions `template.yaml` declares.

Each kind of resource is written once, here, and made for every function it applies to:
a log group per function (created by the stack, so it has a retention), a metric filter on the
error log lines and an errors alarm per API function, a throttles alarm per function; then the
alarms of the service's own failure modes, the rule for Secrets Manager's rotation failures, the
email topic and the dashboard. `template.yaml` deploys the result as a nested application
(`Monitoring`), passing it each of its resources and parameters the monitoring refers to, as a
parameter of the same name: `!Ref CreateFunction` reads the same in both files.

    python -m templates.monitoring        (make monitoring)

tests/template/test_monitoring.py fails while the committed file differs from what this writes.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
OUTPUT = Path(__file__).resolve().parent / "monitoring.yaml"


@dataclass(frozen=True)
class Tagged:
    """A short-form intrinsic (`!Ref x`), read back by CloudFormation and SAM as {"Ref": x}."""

    tag: str
    value: Any


def ref(name: str) -> Tagged:
    return Tagged("!Ref", name)


def sub(text: str) -> Tagged:
    return Tagged("!Sub", text)


def if_(condition: str, then: Any, otherwise: Any) -> Tagged:
    return Tagged("!If", [condition, then, otherwise])


NO_VALUE = ref("AWS::NoValue")
# Every alarm notifies the given topic and/or the email topic, when there is one.
NOTIFY = [if_("HasAlarmTopic", ref("AlarmTopicArn"), NO_VALUE), if_("HasAlarmEmail", ref("AlarmEmailTopic"), NO_VALUE)]


@dataclass(frozen=True)
class Function:
    logical_id: str
    name: str  # its code folder's: create for functions/create/
    routed: bool  # invoked by the API (an HttpApi event)


@dataclass(frozen=True)
class Emf:
    """The namespace and service the handlers' metrics carry (Powertools' settings in the Globals)."""

    namespace: str
    service: str

    @classmethod
    def of(cls, root: dict[str, Any]) -> Emf:
        env = root["Globals"]["Function"]["Environment"]["Variables"]
        return cls(env["POWERTOOLS_METRICS_NAMESPACE"], env["POWERTOOLS_SERVICE_NAME"])

    @property
    def log_namespace(self) -> Tagged:
        """The stack's own namespace for the metrics its filters make of log lines."""
        return sub(f"{self.namespace}/${{AWS::StackName}}")


def functions(root: dict[str, Any]) -> list[Function]:
    found = []
    for logical_id, res in root["Resources"].items():
        if res["Type"] == "AWS::Serverless::Function":
            events = res["Properties"].get("Events", {}).values()
            name = Path(res["Properties"]["CodeUri"]).name
            found.append(Function(logical_id, name, any(e["Type"] == "HttpApi" for e in events)))
    return found


def function_metric(metric: str, function: str) -> dict[str, Any]:
    return {
        "Namespace": "AWS/Lambda",
        "MetricName": metric,
        "Dimensions": [{"Name": "FunctionName", "Value": ref(function)}],
    }


def api_metric(metric: str) -> dict[str, Any]:
    return {
        "Namespace": "AWS/ApiGateway",
        "MetricName": metric,
        "Dimensions": [{"Name": "ApiId", "Value": ref("HttpApi")}, {"Name": "Stage", "Value": ref("Stage")}],
    }


def summed(id_: str, metric: dict[str, Any], period: int) -> dict[str, Any]:
    """A metric-math alarm's input: the metric's sum over each period, not itself the alarm's value."""
    return {"Id": id_, "ReturnData": False, "MetricStat": {"Metric": metric, "Period": period, "Stat": "Sum"}}


def alarm(
    name: str, description: str | Tagged, *, notify_insufficient_data: bool = False, **properties: Any
) -> dict[str, Any]:
    """An alarm named `<stack>-<name>` that notifies on ALARM and OK (INSUFFICIENT_DATA too, if asked)."""
    props = {"AlarmName": sub(f"${{AWS::StackName}}-{name}"), "AlarmDescription": description, **properties}
    props.setdefault("TreatMissingData", "notBreaching")
    props.update(AlarmActions=NOTIFY, OKActions=NOTIFY)
    if notify_insufficient_data:
        props["InsufficientDataActions"] = NOTIFY
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": props}


def one_metric(metric: dict[str, Any], period: int, **properties: Any) -> dict[str, Any]:
    """An alarm's properties for a single metric at or above 1 in one period, unless told otherwise."""
    return {
        **metric,
        "Statistic": "Sum",
        "Period": period,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        **properties,
    }


# --- Per function ---------------------------------------------------------------------------------


def log_group(fn: Function) -> dict[str, Any]:
    return {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {
            "LogGroupName": sub(f"/aws/lambda/${{{fn.logical_id}}}"),
            "RetentionInDays": ref("LogRetentionDays"),
        },
    }


def error_logs(fn: Function, emf: Emf) -> dict[str, Any]:
    # The handler answers a failure itself (500 misconfigured or unexpected, logged as an error),
    # so Lambda counts no error for it: its error log lines are the count.
    return {
        "Type": "AWS::Logs::MetricFilter",
        "Properties": {
            "LogGroupName": ref(f"{fn.logical_id}LogGroup"),
            "FilterPattern": '{ $.level = "ERROR" }',
            "MetricTransformations": [
                {
                    "MetricNamespace": emf.log_namespace,
                    "MetricName": f"{fn.logical_id}ErrorLogs",
                    "MetricValue": "1",
                }
            ],
        },
    }


def errors_alarm(fn: Function, emf: Emf) -> dict[str, Any]:
    return alarm(
        f"{fn.name}-errors",
        f"The {fn.name} function failed in the last 5 minutes, answering a 500 it logged as an error"
        " (misconfigured or unexpected) or crashing or timing out.",
        Metrics=[
            {
                "Id": "failed",
                "Expression": "FILL(logged, 0) + FILL(crashed, 0)",
                "Label": "errors logged or raised",
                "ReturnData": True,
            },
            summed("logged", {"Namespace": emf.log_namespace, "MetricName": f"{fn.logical_id}ErrorLogs"}, 300),
            summed("crashed", function_metric("Errors", fn.logical_id), 300),
        ],
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )


def throttles_alarm(fn: Function) -> dict[str, Any]:
    return alarm(
        f"{fn.name}-throttles",
        f"The {fn.name} function was throttled (the account's concurrency is exhausted) in the last 5 minutes.",
        **one_metric(function_metric("Throttles", fn.logical_id), 300),
    )


# --- The service's failure modes ------------------------------------------------------------------


def api_5xx_rate_alarm() -> dict[str, Any]:
    return alarm(
        "api-5xx-rate",
        sub(
            "More than ${Api5xxAlarmPercent}% of API requests answered 5xx in two of the last three 5-minute"
            " periods (each with at least ${Api5xxAlarmMinRequests} requests)."
        ),
        Metrics=[
            {
                "Id": "rate",
                "Label": "5xx percent of requests (0 below the minimum volume)",
                "Expression": sub("IF(requests >= ${Api5xxAlarmMinRequests}, 100 * FILL(errors, 0) / requests, 0)"),
                "ReturnData": True,
            },
            summed("errors", api_metric("5xx"), 300),
            summed("requests", api_metric("Count"), 300),
        ],
        EvaluationPeriods=3,
        DatapointsToAlarm=2,
        Threshold=ref("Api5xxAlarmPercent"),
        ComparisonOperator="GreaterThanThreshold",
    )


def cleanup_failing_alarm() -> dict[str, Any]:
    return alarm(
        "cleanup-failing",
        sub(
            "ALARM: every cleanup run of the last ${CleanupAlarmHours} hours failed. INSUFFICIENT_DATA after OK:"
            " cleanup has not run at all for ${CleanupAlarmHours} hours (its schedule disabled, deleted, or unable"
            " to invoke it). Either way DynamoDB's TTL still removes expired sessions, within about two days."
        ),
        Metrics=[
            {
                "Id": "succeeded",
                "Label": "cleanup runs without error",
                # No FILL on invocations: an hour without a run stays missing, never a breach.
                "Expression": "invocations - FILL(errors, 0)",
                "ReturnData": True,
            },
            summed("invocations", function_metric("Invocations", "CleanupFunction"), 3600),
            summed("errors", function_metric("Errors", "CleanupFunction"), 3600),
        ],
        EvaluationPeriods=ref("CleanupAlarmHours"),
        DatapointsToAlarm=ref("CleanupAlarmHours"),
        Threshold=1,
        ComparisonOperator="LessThanThreshold",
        # Hours without a run are missing data; with all of them missing the alarm goes to
        # INSUFFICIENT_DATA, which notifies too. A fresh stack starts there and stays until the
        # first run, so a new deploy pages nobody (breaching would, for CleanupAlarmHours).
        TreatMissingData="missing",
        notify_insufficient_data=True,
    )


def rotation_failing_alarm() -> dict[str, Any]:
    return alarm(
        "rotation-failing",
        "A signing-key rotation step failed in the last day; Secrets Manager retries, and the old key stays"
        " current until a rotation completes.",
        **one_metric(function_metric("Errors", "RotateFunction"), 86400),
    )


def validate_latency_alarm() -> dict[str, Any]:
    return alarm(
        "validate-p99-duration",
        sub("The validate function's p99 duration was above ${ValidateP99AlarmMs} ms for 15 minutes."),
        **function_metric("Duration", "ValidateFunction"),
        ExtendedStatistic="p99",
        Period=300,
        EvaluationPeriods=3,
        Threshold=ref("ValidateP99AlarmMs"),
        ComparisonOperator="GreaterThanThreshold",
    )


def rotation_failed_rule() -> dict[str, Any]:
    """Secrets Manager's own events (via CloudTrail, no trail needed) for a rotation it cannot start
    (it may not invoke the function) or abandons: no function error shows those."""
    message = sub(
        '"${AWS::StackName}: Secrets Manager reported <event> for the signing key at <time>. The current key'
        " stays in use; see the rotate function's log (docs/operations.md).\""
    )

    def target(condition: str, id_: str, topic: Tagged) -> Tagged:
        transformer = {"InputPathsMap": {"event": "$.detail.eventName", "time": "$.time"}, "InputTemplate": message}
        return if_(condition, {"Id": id_, "Arn": topic, "InputTransformer": transformer}, NO_VALUE)

    return {
        "Type": "AWS::Events::Rule",
        "Condition": "HasAlarmDestination",
        "Metadata": {
            "cfn-lint": {
                "config": {
                    # No dead-letter queue: an event not delivered stays in CloudTrail's event history (90 days).
                    "ignore_checks": ["ES4000"]
                }
            }
        },
        "Properties": {
            "Description": sub(
                "Secrets Manager reported a failed or abandoned rotation of ${AWS::StackName}'s signing key"
            ),
            "EventPattern": {
                "source": ["aws.secretsmanager"],
                "detail-type": ["AWS Service Event via CloudTrail"],
                "detail": {
                    "eventSource": ["secretsmanager.amazonaws.com"],
                    "eventName": ["RotationFailed", "RotationAbandoned", "TestRotationFailed"],
                    "additionalEventData": {"SecretId": [ref("SigningKeySecret")]},
                },
            },
            "Targets": [
                target("HasAlarmTopic", "alarm-topic", ref("AlarmTopicArn")),
                target("HasAlarmEmail", "alarm-email", ref("AlarmEmailTopic")),
            ],
        },
    }


def email_topic() -> dict[str, dict[str, Any]]:
    return {
        "AlarmEmailTopic": {
            "Type": "AWS::SNS::Topic",
            "Condition": "HasAlarmEmail",
            "Properties": {
                "DisplayName": sub("${AWS::StackName} alarms"),
                "Subscription": [{"Protocol": "email", "Endpoint": ref("AlarmEmail")}],
            },
        },
        # Replaces the topic's default policy: the alarms (CloudWatch) and the rotation rule (EventBridge).
        "AlarmEmailTopicPolicy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Condition": "HasAlarmEmail",
            "Properties": {
                "Topics": [ref("AlarmEmailTopic")],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "Alarms",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": ref("AlarmEmailTopic"),
                            "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}},
                        },
                        {
                            "Sid": "RotationFailures",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": ref("AlarmEmailTopic"),
                            "Condition": {"ArnEquals": {"aws:SourceArn": Tagged("!GetAtt", "RotationFailedRule.Arn")}},
                        },
                    ],
                },
            },
        },
    }


# --- Dashboard: the service's own metrics (EMF) and AWS's --------------------------------------


def dashboard(fns: list[Function], emf: Emf) -> dict[str, Any]:
    """Two 12x6 graphs a row, in the order below."""

    def widget(i: int, title: str, stat: str, period: int, metrics: list[str]) -> str:
        head = (
            f'  {{"type": "metric", "x": {12 * (i % 2)}, "y": {6 * (i // 2)}, "width": 12, "height": 6,'
            f' "properties": {{\n    "title": "{title}", "region": "${{AWS::Region}}", "view": "timeSeries",'
            f' "stacked": false, "stat": "{stat}", "period": {period}, "metrics": [\n'
        )
        return head + ",\n".join(f"      {m}" for m in metrics) + "\n  ]}}"

    def lam(metric: str, fn: str, extra: str = "") -> str:
        return f'["AWS/Lambda", "{metric}", "FunctionName", "${{{fn}}}"{extra}]'

    def api(metric: str, extra: str = "") -> str:
        return f'["AWS/ApiGateway", "{metric}", "ApiId", "${{HttpApi}}", "Stage", "${{Stage}}"{extra}]'

    def own(metric: str) -> str:
        return f'["{emf.namespace}", "{metric}", "service", "{emf.service}"]'

    p50, p99 = ', {"stat": "p50"}', ', {"stat": "p99"}'
    # Validations has one metric per result: a search draws them all.
    search = (
        f'SEARCH(\'{{{emf.namespace},result,service}} MetricName=\\"Validations\\"'
        f" service=\\\"{emf.service}\\\"', 'Sum', 300)"
    )
    graphs = [
        ("Validations by result", "Sum", 300, [f'[{{"expression": "{search}", "id": "validations", "label": ""}}]']),
        ("Tokens minted, sessions deleted by cleanup", "Sum", 300, [own("TokensMinted"), own("SessionsDeleted")]),
        ("API requests, 4xx, 5xx", "Sum", 300, [api("Count"), api("4xx"), api("5xx")]),
        ("API latency (ms)", "p99", 300, [api("Latency", p50), api("Latency", p99), api("IntegrationLatency", p99)]),
        ("Function errors", "Sum", 300, [lam("Errors", fn.logical_id) for fn in fns]),
        ("Function throttles", "Sum", 300, [lam("Throttles", fn.logical_id) for fn in fns]),
        ("Validate duration (ms)", "p99", 300, [lam("Duration", "ValidateFunction", e) for e in (p50, p99)]),
        ("Cleanup runs", "Sum", 3600, [lam("Invocations", "CleanupFunction"), lam("Errors", "CleanupFunction")]),
    ]
    widgets = [widget(i, *graph) for i, graph in enumerate(graphs)]
    body = '{"widgets": [\n' + ",\n".join(widgets) + "\n]}\n"
    return {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {"DashboardName": sub("${AWS::StackName}"), "DashboardBody": sub(body)},
    }


# --- The template ----------------------------------------------------------------------------


def referenced(value: Any) -> set[str]:
    """The names a fragment refers to: `!Ref name`, and `${name}` or `${name.attribute}` in `!Sub`."""
    if isinstance(value, Tagged):
        if value.tag == "!Ref":
            return {value.value}
        if value.tag == "!Sub":
            return set(re.findall(r"\$\{([\w:]+)", value.value))
        value = value.value
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return set().union(*(referenced(v) for v in value))
    return set()


def parameters(root: dict[str, Any], resources: dict[str, Any]) -> dict[str, Any]:
    """One parameter for each of the root's resources and parameters the monitoring refers to, under its
    name: the functions first, then the other resources and the parameters, each in the root's order."""
    used = referenced(resources)
    fns = [f.logical_id for f in functions(root)]
    names = fns + [r for r in root["Resources"] if r not in fns] + list(root["Parameters"])
    found = {}
    for name in (n for n in names if n in used):
        if name in root["Parameters"]:
            found[name] = {"Type": root["Parameters"][name]["Type"], "Description": f"The root's {name}"}
        else:  # a Ref to a resource is its name, id or ARN
            found[name] = {"Type": "String", "Description": f"The root's {name} (its Ref)"}
    return found


def monitoring(root: dict[str, Any]) -> dict[str, Any]:
    fns, emf = functions(root), Emf.of(root)
    resources: dict[str, Any] = {f"{fn.logical_id}LogGroup": log_group(fn) for fn in fns}
    resources.update(email_topic())
    for fn in fns:
        if fn.routed:
            resources[f"{fn.logical_id}ErrorLogs"] = error_logs(fn, emf)
            resources[f"{fn.logical_id}ErrorsAlarm"] = errors_alarm(fn, emf)
        resources[f"{fn.logical_id}ThrottlesAlarm"] = throttles_alarm(fn)
    resources.update(
        Api5xxRateAlarm=api_5xx_rate_alarm(),
        CleanupFailingAlarm=cleanup_failing_alarm(),
        RotationFailingAlarm=rotation_failing_alarm(),
        RotationFailedRule=rotation_failed_rule(),
        ValidateLatencyAlarm=validate_latency_alarm(),
        Dashboard=dashboard(fns, emf),
    )
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "SWAIG session service: log groups, alarms, the dashboard (nested in template.yaml)",
        "Parameters": parameters(root, resources),
        "Conditions": {
            "HasAlarmTopic": Tagged("!Not", [Tagged("!Equals", [ref("AlarmTopicArn"), ""])]),
            "HasAlarmEmail": Tagged("!Not", [Tagged("!Equals", [ref("AlarmEmail"), ""])]),
            "HasAlarmDestination": Tagged(
                "!Or", [Tagged("!Condition", "HasAlarmTopic"), Tagged("!Condition", "HasAlarmEmail")]
            ),
        },
        "Resources": resources,
        "Outputs": {"DashboardName": {"Description": "The dashboard's name", "Value": ref("Dashboard")}},
    }


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # NOTIFY is shared: written out each time, no anchors
        return True

    def choose_scalar_style(self) -> str:
        # A tagged scalar may be plain too (`!Ref Name`, as written by hand): PyYAML quotes every
        # scalar whose tag it would not infer.
        event = self.event
        if not (isinstance(event, yaml.ScalarEvent) and event.tag in TAGS and not event.style):
            return str(super().choose_scalar_style())
        implicit, event.implicit = event.implicit, (True, event.implicit[1])
        try:
            return str(super().choose_scalar_style())
        finally:
            event.implicit = implicit  # so the tag is still written


TAGS = {"!Ref", "!Sub", "!GetAtt", "!Condition"}


def _tagged(dumper: yaml.SafeDumper, data: Tagged) -> yaml.Node:
    if isinstance(data.value, list):
        flat = all(not isinstance(v, dict) for v in data.value)
        return dumper.represent_sequence(data.tag, data.value, flow_style=flat)
    return dumper.represent_scalar(data.tag, data.value, style="|" if "\n" in data.value else None)


_Dumper.add_representer(Tagged, _tagged)

HEADER = """\
# Written by templates/monitoring.py from template.yaml's functions (make monitoring): edit that
# file, not this one. Deployed by template.yaml as its nested application Monitoring.
"""


def render(root: dict[str, Any]) -> str:
    body = yaml.dump(monitoring(root), Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)
    return HEADER + body


def main() -> int:
    OUTPUT.write_text(render(yaml_parse(TEMPLATE.read_text())))
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
