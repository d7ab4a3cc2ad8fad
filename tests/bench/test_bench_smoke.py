"""`python -m bench --quick` runs end to end and ends with a well-formed `BENCH {json}` line.

No timing assertions: times and ratios are reported, never checked. What is checked is the
report's shape and the behaviour the benchmark counts (AWS calls, DynamoDB items read,
the HTTP requests an agent's render sends).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness import node

ROOT = Path(__file__).resolve().parents[2]
CASES = {
    "verify",
    "validate_handler",
    "mint_batch",
    "cold_start",
    "cleanup",
    "memory",
    "agent_render",
    "agent_load",
    "ts_agent_load",
}
# The TypeScript agent's case runs node; without it the case says it was skipped and has no rows.
HAS_NODE = node.node() is not None
ROWS = {
    "verify",
    "validate_handler",
    "validate_handler_aws_calls",
    "mint_batch",
    "mint_batch_aws_calls_per_batch",
    "mint_batch_cpu_per_token",
    "cold_start",
    "cleanup",
    "memory",
    "agent_render_requests_1_tool",
    "agent_render_requests_10_tools",
    "agent_render_requests_1_tool_key",
    "agent_render_requests_10_tools_key",
    "agent_render_requests_1_tool_call_id",
    "agent_render_requests_10_tools_call_id",
    "agent_render_requests_1_tool_key_call_id",
    "agent_render_requests_10_tools_key_call_id",
    "agent_render_10_vs_1_tools",
    "agent_load_key_vs_sdk",
    "agent_load_requests_per_call_key",
    "agent_load_requests_per_call_remote",
} | ({"ts_agent_load", "ts_agent_load_background_per_call", "ts_agent_load_background_unsent"} if HAS_NODE else set())
# Rows whose ratio is the median of per-round ratios: where the case reports it.
PAIRED = {
    "cold_start": ("cold_start", "ratio"),
    "agent_load_key_vs_sdk": ("agent_load", "ratio_key_vs_sdk"),
    "ts_agent_load": ("ts_agent_load", "ratio"),
}
# No target: measured in the same rounds as a target, for scale.
REFERENCES = {
    "verify_floor_hmac",
    "validate_handler_floor_powertools",
    "validate_handler_floor_logger_metrics",
    "validate_handler_sdk_validate_token",
    "cold_start_boto3_import",
    "agent_render_sdk_1_tool",
    "agent_render_sdk_10_tools",
    "agent_render_10_vs_1_tools_key",
    "agent_render_key_vs_sdk_1_tool",
    "agent_render_key_vs_sdk_10_tools",
    "agent_load_remote_vs_sdk",
    "agent_load_render_p95_key",
    "agent_load_render_p95_remote",
    "agent_load_tool_call_p95_key",
    "agent_load_tool_call_p95_remote",
} | ({"ts_agent_load_render_p50", "ts_agent_load_tool_p95"} if HAS_NODE else set())


@pytest.fixture(scope="module")
def run() -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=280, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done


@pytest.fixture(scope="module")
def bench(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    last = run.stdout.rstrip("\n").splitlines()[-1]
    assert last.startswith("BENCH {"), "the BENCH line must be the last line of stdout"
    assert sum(line.startswith("BENCH ") for line in run.stdout.splitlines()) == 1
    payload: dict[str, Any] = json.loads(last.removeprefix("BENCH "))
    return payload


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _stats(stats: dict[str, Any]) -> None:
    assert _positive(stats["median"]) and _positive(stats["p99"]), stats
    assert stats["p99"] >= stats["median"]
    assert isinstance(stats["n"], int) and stats["n"] > 0


def test_every_case_and_row_is_reported(bench: dict[str, Any]) -> None:
    assert bench["quick"] is True
    assert set(bench["cases"]) == CASES
    assert {row["metric"] for row in bench["rows"]} == ROWS | REFERENCES


def test_the_table_comes_before_the_json(run: subprocess.CompletedProcess[str]) -> None:
    lines = run.stdout.splitlines()
    header = next(
        i
        for i, line in enumerate(lines)
        if line.split()[:6] == ["metric", "ours", "baseline", "ratio", "target", "met?"]
    )
    table = lines[header + 2 : -1]
    assert sorted(line.split()[0] for line in table) == sorted(ROWS | REFERENCES)
    for line in table:  # a reference has no target, so no verdict either
        assert (line.split()[-2:] == ["-", "-"]) == (line.split()[0] in REFERENCES), line


def test_rows_are_consistent(bench: dict[str, Any]) -> None:
    for row in bench["rows"]:
        assert set(row) == {"metric", "ours", "baseline", "unit", "ratio", "ratio_of", "target", "check", "met"}, row
        if row["metric"] in REFERENCES:
            assert row["check"] == "reference" and row["target"] is None and row["met"] is None, row
            assert _positive(row["ours"]) and _positive(row["baseline"]), row
            continue
        assert isinstance(row["met"], bool)
        assert row["check"] in {"ratio", "at_most", "exactly"}
        if row["baseline"] is None:
            assert row["ratio"] is None and row["check"] == "exactly"
        elif row["ratio_of"] == "pairs":  # the median of per-round ratios, reported with the case
            assert _positive(row["ours"]) and _positive(row["baseline"]), row
            case, key = PAIRED[row["metric"]]
            assert row["ratio"] == pytest.approx(bench["cases"][case][key], abs=1e-4)
        else:
            assert row["ratio_of"] == "medians"
            assert _positive(row["ours"]) and _positive(row["baseline"]), row
            assert row["ratio"] == pytest.approx(
                row["ours"] / row["baseline"], rel=1e-3, abs=1e-4
            )  # rounded to 4 places
        expected = {
            "ratio": row["ratio"] is not None and row["ratio"] <= row["target"],
            "at_most": row["ours"] <= row["target"],
            "exactly": row["ours"] == row["target"],
        }[row["check"]]
        assert row["met"] is expected, row


def test_timed_cases_report_positive_stats(bench: dict[str, Any]) -> None:
    cases = bench["cases"]
    for name in ("ours", "sdk", "floor"):
        _stats(cases["verify"][name])
    for name in ("ours", "sdk_behind_powertools", "sdk"):
        _stats(cases["validate_handler"][name])
    references = cases["validate_handler"]["references"]
    assert set(references) == {"floor_powertools", "floor_logger_metrics"}
    for reference in references.values():
        _stats(reference)
    for name in ("batch", "singles", "create"):
        _stats(cases["mint_batch"][name])
    mint = cases["mint_batch"]
    for key in ("cpu_per_token_us", "cpu_floor_per_token_us", "core_mint_cpu_us", "session_read_cpu_us"):
        assert _positive(mint[key]), key
    assert _positive(mint["sdk_create_tool_token_cpu_us"])
    # The floor is its two parts: the session read spread over the batch, plus one mint.
    floor = mint["session_read_cpu_us"] / mint["tokens_per_batch"] + mint["core_mint_cpu_us"]
    assert mint["cpu_floor_per_token_us"] == pytest.approx(floor, abs=2e-3)
    for case in ("cold_start", "memory"):
        assert _positive(cases[case]["ours"]) and _positive(cases[case]["boto3_import"])
        assert _positive(cases[case]["ratio"])
    assert _positive(cases["cold_start"]["secret_floor"]) and _positive(cases["cold_start"]["boto3_import_ratio"])
    runs = cases["cold_start"]["runs"]
    for side in ("ours_runs", "boto3_runs", "secret_runs"):  # one of each per round, for the pairs
        assert len(cases["cold_start"][side]) == runs, side


def test_warm_validate_makes_no_aws_call(bench: dict[str, Any]) -> None:
    validate = bench["cases"]["validate_handler"]
    assert isinstance(validate["aws_calls"], int) and isinstance(validate["warm_invocations"], int)
    assert validate["warm_invocations"] > 0
    assert validate["aws_calls"] == 0


def test_a_batch_mint_makes_exactly_one_aws_call(bench: dict[str, Any]) -> None:
    mint = bench["cases"]["mint_batch"]
    for key in ("aws_calls_per_batch", "aws_calls_per_batch_min", "aws_calls_total", "batches"):
        assert isinstance(mint[key], int), key
    assert mint["aws_calls_per_batch"] == mint["aws_calls_per_batch_min"] == 1
    assert mint["aws_calls_total"] == mint["batches"] > 0


def test_cleanup_reads_only_expired_items(bench: dict[str, Any]) -> None:
    cleanup = bench["cases"]["cleanup"]
    for key in ("sessions", "expired", "deleted", "examined", "items_read", "scan_items_read", "aws_calls"):
        assert isinstance(cleanup[key], int), key
    assert cleanup["deleted"] == cleanup["expired"] > 0
    assert cleanup["scan_items_read"] == cleanup["sessions"]  # the baseline really read the whole table
    assert cleanup["items_read"] <= 1.2 * cleanup["deleted"]
    assert cleanup["operations"].get("Scan", 0) == 0  # the index is queried, the table never scanned


def test_agent_renders_count_every_request(bench: dict[str, Any]) -> None:
    agent = bench["cases"]["agent_render"]
    remote = {
        f"remote_{tools}{key}{named}"
        for tools in ("1_tool", "10_tools")
        for key in ("", "_key")
        for named in ("", "_call_id")  # SignalWire's request names the call
    }
    for name in remote | {"sdk_1_tool", "sdk_10_tools"}:
        _stats(agent[name])
    assert set(agent["requests_per_render"]) == set(agent["requests_first_render"]) == remote
    for name in remote:  # a render starts a session, so it sends at least one request
        assert agent["requests_per_render"][name] >= 1 and agent["requests_first_render"][name] >= 1, name
    # The client's own count is what reached the stack's front: nothing sent twice, nothing missed.
    assert isinstance(agent["requests_sent"], int) and agent["requests_sent"] > 0
    assert agent["requests_at_front"] == agent["requests_sent"]
    rows = {row["metric"]: row for row in bench["rows"]}
    for name in remote:
        row = rows["agent_render_requests_" + name.removeprefix("remote_")]
        assert row["ours"] == agent["requests_per_render"][name] and row["unit"] == "requests", row


def test_the_typescript_agent_sends_each_call_start_and_loses_none(bench: dict[str, Any]) -> None:
    load = bench["cases"]["ts_agent_load"]
    if not HAS_NODE:
        assert load == {"skipped": "node is not on PATH", "case_secs": load["case_secs"]}
        return
    for name in ("sdk", "client"):
        assert all(_positive(load[name][key]) for key in ("wall_median", "render_p50", "tool_p95")), load[name]
    background = load["client_background"]
    rendered = load["calls"] * (load["rounds"] + 1)  # the warm-up round's calls too
    assert background["sent"] == rendered  # one start per call, in the background
    assert background["failed"] == background["dropped"] == background["pending"] == 0
    rows = {row["metric"]: row for row in bench["rows"]}
    assert rows["ts_agent_load"]["ratio_of"] == "pairs"
    assert rows["ts_agent_load_background_per_call"]["met"] and rows["ts_agent_load_background_unsent"]["met"]


def test_targets_rest_on_the_floors_measured_beside_them(bench: dict[str, Any]) -> None:
    cases, rows = bench["cases"], {row["metric"]: row for row in bench["rows"]}
    verify, floor = rows["verify"], rows["verify_floor_hmac"]  # the floor beside the SDK it is compared with
    assert verify["baseline"] == floor["baseline"] == pytest.approx(cases["verify"]["sdk"]["median"], abs=6e-4)
    assert floor["ours"] == pytest.approx(cases["verify"]["floor"]["median"], abs=6e-4)
    validate = rows["validate_handler"]
    assert validate["baseline"] == pytest.approx(cases["validate_handler"]["sdk_behind_powertools"]["median"], abs=0.06)
    mint = rows["mint_batch_cpu_per_token"]
    assert mint["baseline"] == pytest.approx(cases["mint_batch"]["cpu_floor_per_token_us"], abs=0.006)
    cold = rows["cold_start"]
    assert cold["baseline"] == cases["cold_start"]["secret_floor"] and cold["ratio_of"] == "pairs"


def test_the_agent_under_load_ran_every_mode_and_counted_its_requests(bench: dict[str, Any]) -> None:
    load = bench["cases"]["agent_load"]
    calls, rounds, tools_per_call = load["calls"], load["rounds"], load["tools_per_call"]
    assert calls > 0 and rounds > 0 and tools_per_call > 0 and _positive(load["rtt_ms"])
    for mode in ("sdk", "key", "remote"):
        measured = load[mode]
        assert len(measured["wall_ms_rounds"]) == rounds, mode
        for key in ("wall_ms", "render_p50_ms", "render_p95_ms", "tool_call_p50_ms", "tool_call_p95_ms"):
            assert _positive(measured[key]), (mode, key)
        # every tool call of every round ran, the warm-up round's too (the case refuses to report otherwise)
        assert measured["tool_runs"] == (rounds + 1) * calls * tools_per_call, mode
        assert measured["requests_naming_no_call"] == 0, mode
    assert load["sdk"]["requests_sent"] == load["sdk"]["requests_per_call"] == 0  # in process: no service
    for mode in ("key", "remote"):  # the service hears of every call
        assert load[mode]["requests_per_call"] >= 1 and load[mode]["requests_sent"] >= (rounds + 1) * calls, mode
    # What the agents' clients counted is what reached the stack's front.
    assert (
        load["requests_at_front"]
        == load["requests_sent"]
        == load["key"]["requests_sent"] + load["remote"]["requests_sent"]
    )
    rows = {row["metric"]: row for row in bench["rows"]}
    assert rows["agent_load_key_vs_sdk"]["ours"] == load["key"]["wall_ms"]
    assert rows["agent_load_key_vs_sdk"]["baseline"] == load["sdk"]["wall_ms"]
    for mode in ("key", "remote"):
        assert rows[f"agent_load_requests_per_call_{mode}"]["ours"] == load[mode]["requests_per_call"]
