"""Case `ts_agent_load`: a TypeScript agent under concurrent calls, with the client and with the SDK alone.

`client-ts/bench/agent-load.mjs` serves client-ts/examples/weather-agent.mjs twice, each in a node
process of its own: with the TypeScript client installed (keys read through the secret's ARN from
the local stack started here) and with @signalwire/sdk's own SessionManager. Per round and
variant, `calls` concurrent calls each fetch their SWML with SignalWire's body and then call two
tools with its tokens; the variants alternate, the order swapped each round. No proxy adds a
round trip: with the key, nothing on a request's path waits on the service.

Reported: each variant's whole-round wall time (target: the client's at most 1.5x the SDK's, as the
median of each round's ratio), render p50 and tool-call p95, and the background requests the
client sent: one per call (its session's start), every one answered, none failed or dropped.
"""

from __future__ import annotations

import os
import statistics
from typing import Any

from harness import node
from harness.served import running_stack
from local.aws import FAKE_CREDENTIALS, REGION

from .report import CaseResult, Row

LOAD_TIMEOUT_SECS = 600
# The service runs on AWS, not beside the agent: here it shares two cores with the agents and the
# load, so it runs at the lowest CPU priority and gets the time they leave (its answers only come
# later; with the key, no request's path waits for one).
STACK_NICENESS = 19


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def ts_agent_load(*, rounds: int, calls: int) -> CaseResult:
    executable = node.node()
    if executable is None:
        return CaseResult("ts_agent_load", {"skipped": "node is not on PATH"})
    node.prepare()
    with running_stack(niceness=STACK_NICENESS) as stack:
        env = {
            **os.environ,
            **FAKE_CREDENTIALS,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": stack.aws_endpoint,
            "SWAIG_API_URL": stack.base_url,
            "SWAIG_SECRET_ARN": stack.secret_arn,
        }
        args = ["bench/agent-load.mjs", "--calls", str(calls), "--rounds", str(rounds)]
        measured: dict[str, Any] = node.run_script(executable, args, timeout=LOAD_TIMEOUT_SECS, env=env)
    samples = measured["samples"]
    stats = measured["client_stats"] or {}
    wall = {name: statistics.median(s["wall"]) for name, s in samples.items()}
    paired = statistics.median(c / s for c, s in zip(samples["client"]["wall"], samples["sdk"]["wall"], strict=True))
    render_p50 = {name: statistics.median(s["render"]) for name, s in samples.items()}
    tool_p95 = {name: _percentile(s["tool"], 95) for name, s in samples.items()}
    unsent = stats.get("failed", -1) + stats.get("dropped", -1) + stats.get("pending", -1)
    rendered = measured["calls"] * (measured["rounds"] + 1)  # the warm-up round's calls too
    rows = [
        Row("ts_agent_load", round(wall["client"], 3), round(wall["sdk"], 3), "ms", 1.5, paired=round(paired, 4)),
        Row.reference("ts_agent_load_render_p50", round(render_p50["client"], 3), round(render_p50["sdk"], 3), "ms"),
        Row.reference("ts_agent_load_tool_p95", round(tool_p95["client"], 3), round(tool_p95["sdk"], 3), "ms"),
        Row("ts_agent_load_background_per_call", stats.get("sent", 0) / rendered, None, "requests", 1, "exactly"),
        Row("ts_agent_load_background_unsent", unsent, None, "requests", 0, "exactly"),
    ]
    return CaseResult(
        "ts_agent_load",
        {
            "unit": "ms",
            "calls": measured["calls"],
            "tools_per_call": measured["tools_per_call"],
            "rounds": measured["rounds"],
            "ratio": round(paired, 4),
            **{
                name: {
                    "wall_median": round(wall[name], 3),
                    "render_p50": round(render_p50[name], 3),
                    "tool_p95": round(tool_p95[name], 3),
                }
                for name in samples
            },
            "client_background": stats,
        },
        rows,
    )
