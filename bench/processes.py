"""Cases `cold_start` and `memory`: fresh processes (`python -m bench.child`), alternating with floor processes."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from signalwire.core.security.session_manager import SessionManager

from .report import CaseResult, Row
from .stack import ROOT, BenchStack

CALL_ID = "bench-call-0001"
FUNCTION = "get_weather"


@dataclass(frozen=True)
class Run:
    wall: float  # seconds from spawn to exit
    maxrss_kb: int


def _child(args: list[str], env: dict[str, str]) -> Run:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench.child", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"bench.child {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH_CHILD ")]
    if not lines:
        raise RuntimeError(f"bench.child {' '.join(args)} reported nothing: {done.stdout[-500:]}")
    return Run(wall, int(json.loads(lines[-1].removeprefix("BENCH_CHILD "))["maxrss_kb"]))


def _alternate(modes: dict[str, list[str]], env: dict[str, str], runs: int, *, discard: bool) -> dict[str, list[Run]]:
    """`runs` of each mode, rotating which goes first; `discard`: after one unrecorded run of each
    (bytecode written, files in the page cache): the steady state, not a first-ever run."""
    names = list(modes)
    if discard:
        for name in names:
            _child(modes[name], env)
    taken: dict[str, list[Run]] = {name: [] for name in names}
    for i in range(runs):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            taken[name].append(_child(modes[name], env))
    return taken


def _validate_env(stack: BenchStack, stage: str) -> dict[str, str]:
    """The validate function's environment from template.yaml, with an event for its first request."""
    from local.lambda_runtime import http_event

    provisioned = stack.provision(stage)
    token = SessionManager(secret_key=provisioned.signing_key).create_tool_token(FUNCTION, CALL_ID)
    event = http_event("POST", "/tokens/validate", {"call_id": CALL_ID, "function": FUNCTION, "token": token})
    env = {**os.environ, **stack.function_env("validate", provisioned), "BENCH_EVENT": json.dumps(event)}
    # The unrecorded first run writes bytecode, as a deployment package ships it; a machine that
    # sets this (some CI images do) would otherwise compile every module on every measured run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _paired(ours: list[Run], baseline: list[Run]) -> float:
    """The median over rounds of ours/baseline, each pair run back to back in the same round."""
    return statistics.median(o.wall / b.wall for o, b in zip(ours, baseline, strict=True))


def cold_start(stack: BenchStack, *, runs: int) -> CaseResult:
    """A fresh process importing functions/validate and answering its first event vs the floor process.

    The floor: a process that imports boto3, creates the core's Secrets Manager client and reads
    the key once, which any function keeping its key there must do before its first answer.
    A process that only runs `import boto3` is measured beside them, for scale.
    """
    taken = _alternate(
        {"ours": ["validate", "1"], "secret": ["secret"], "boto3": ["boto3"]},
        _validate_env(stack, "bench-cold"),
        runs,
        discard=True,
    )
    wall = {name: statistics.median(r.wall for r in runs_) for name, runs_ in taken.items()}
    ours, secret, boto3_only = wall["ours"], wall["secret"], wall["boto3"]
    ratio, boto3_ratio = _paired(taken["ours"], taken["secret"]), _paired(taken["boto3"], taken["secret"])
    return CaseResult(
        "cold_start",
        {
            "unit": "ms",
            "ours": round(ours * 1e3, 1),
            "secret_floor": round(secret * 1e3, 1),
            "ratio": round(ratio, 4),
            "ratio_of_medians": round(ours / secret, 4),
            "boto3_import": round(boto3_only * 1e3, 1),
            "boto3_import_ratio": round(boto3_ratio, 4),
            "ratio_vs_boto3_import": round(_paired(taken["ours"], taken["boto3"]), 4),
            "runs": runs,
            **{f"{name}_runs": [round(r.wall * 1e3, 1) for r in runs_] for name, runs_ in taken.items()},
        },
        [
            Row("cold_start", round(ours * 1e3, 1), round(secret * 1e3, 1), "ms", 1.3, paired=ratio),
            Row.reference(
                "cold_start_boto3_import", round(boto3_only * 1e3, 1), round(secret * 1e3, 1), "ms", paired=boto3_ratio
            ),
        ],
    )


def memory(stack: BenchStack, *, runs: int, events: int) -> CaseResult:
    """Peak RSS of a warm validate container after `events` requests vs a process that only imported boto3."""
    taken = _alternate(
        {"ours": ["validate", str(events)], "boto3": ["boto3"]},
        _validate_env(stack, "bench-memory"),
        runs,
        discard=False,
    )
    ours = statistics.median(r.maxrss_kb for r in taken["ours"]) / 1024
    boto3_only = statistics.median(r.maxrss_kb for r in taken["boto3"]) / 1024
    return CaseResult(
        "memory",
        {
            "unit": "MB",
            "ours": round(ours, 1),
            "boto3_import": round(boto3_only, 1),
            "ratio": round(ours / boto3_only, 4),
            "events": events,
            "runs": runs,
        },
        [Row("memory", round(ours, 1), round(boto3_only, 1), "MB", 1.5)],
    )
