"""The dashboard reads the service's metrics as the handlers really emit them (EMF namespace and dimensions)."""

from __future__ import annotations

import json

import pytest

from local import template
from local.lambda_runtime import scheduled_event
from tests.support.handler_stack import HandlerStack
from tests.support.template import dashboard_body


def emitted(capsys: pytest.CaptureFixture[str]) -> dict[str, tuple[str, tuple[str, ...], dict[str, str]]]:
    """Each metric the handlers wrote: its namespace, dimension names (sorted) and dimension values."""
    found = {}
    for line in capsys.readouterr().out.splitlines():
        if '"_aws"' not in line:
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            (dimensions,) = directive["Dimensions"]
            for metric in directive["Metrics"]:
                values = {name: record[name] for name in dimensions}
                found[metric["Name"]] = (directive["Namespace"], tuple(sorted(dimensions)), values)
    return found


def test_the_dashboard_reads_the_metrics_the_handlers_emit(
    stack: HandlerStack, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    stack.request("POST", "/sessions", {"call_id": "m-1", "functions": ["f"]})
    token = stack.mint("m-1", "f")
    stack.validate("m-1", "f", token)
    stack.invoke("cleanup", scheduled_event())
    metrics = emitted(capsys)
    assert {"TokensMinted", "Validations", "SessionsDeleted"} <= set(metrics), metrics

    widgets = dashboard_body(template.application("Monitoring"))["widgets"]
    series = [m for w in widgets for m in w["properties"]["metrics"]]
    plain = [m for m in series if isinstance(m[0], str)]
    for name in ("TokensMinted", "SessionsDeleted"):
        namespace, _, values = metrics[name]
        drawn = [m for m in plain if m[:2] == [namespace, name]]
        assert drawn, name
        assert all(dict(zip(m[2::2], m[3::2], strict=False)) == values for m in drawn), (name, drawn, values)
    namespace, dimensions, values = metrics["Validations"]  # by result: a search over every result value
    searches = [m[0]["expression"] for m in series if isinstance(m[0], dict)]
    assert any(
        f"{{{namespace},{','.join(dimensions)}}}" in s
        and 'MetricName="Validations"' in s
        and f'service="{values["service"]}"' in s
        for s in searches
    ), (searches, metrics["Validations"])
