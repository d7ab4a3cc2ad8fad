"""`python -m bench [--quick] [--only CASE ...]`: run the cases, print the table, then `BENCH {json}`.

Ratios are what matter: this machine is noisy and absolute times mean little. Compared
variants run interleaved in rounds, so noise hits both sides alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import agent, cleanup, handlers, processes, ts_agent, verify
from .report import CaseResult, bench_line, table
from .stack import BenchStack, MotoProcess


@dataclass(frozen=True)
class Sizes:
    """How much each case repeats: the full run, or the smoke test's `--quick`."""

    verify_rounds: int
    verify_batch: int
    validate_rounds: int
    validate_batch: int
    sdk_batch: int
    mint_rounds: int
    cold_runs: int
    memory_runs: int
    memory_events: int
    sessions: int
    expired: int
    agent_rounds: int
    agent_sdk_batch: int
    load_calls: int
    load_rounds: int
    ts_rounds: int
    ts_calls: int


FULL = Sizes(
    verify_rounds=200,
    verify_batch=500,
    validate_rounds=150,
    validate_batch=20,
    sdk_batch=500,
    mint_rounds=100,
    cold_runs=15,
    memory_runs=3,
    memory_events=1000,
    sessions=10_000,
    expired=1_000,
    agent_rounds=30,
    agent_sdk_batch=20,
    load_calls=24,
    load_rounds=7,
    ts_rounds=10,
    ts_calls=24,
)
# Enough for every case to run each of its variants and report; too little to measure anything.
QUICK = Sizes(
    verify_rounds=3,
    verify_batch=50,
    validate_rounds=3,
    validate_batch=5,
    sdk_batch=50,
    mint_rounds=2,
    cold_runs=1,
    memory_runs=1,
    memory_events=50,
    sessions=500,
    expired=50,
    agent_rounds=1,
    agent_sdk_batch=2,
    load_calls=2,
    load_rounds=1,
    ts_rounds=1,
    ts_calls=2,
)

CASES = (
    "verify",
    "validate_handler",
    "mint_batch",
    "cold_start",
    "cleanup",
    "memory",
    "agent_render",
    "agent_load",
    "ts_agent_load",
)
DEFAULT_RTT_MS = 30.0  # API Gateway and a warm Lambda, as seen from an agent in the same region


def _cases(sizes: Sizes, rtt_ms: float) -> dict[str, Callable[[BenchStack], CaseResult]]:
    s = sizes
    return {
        "verify": lambda _: verify.run(rounds=s.verify_rounds, batch=s.verify_batch),
        "validate_handler": lambda st: handlers.validate_handler(
            st, rounds=s.validate_rounds, handler_batch=s.validate_batch, sdk_batch=s.sdk_batch
        ),
        "mint_batch": lambda st: handlers.mint_batch(st, rounds=s.mint_rounds, sdk_batch=s.sdk_batch),
        "cold_start": lambda st: processes.cold_start(st, runs=s.cold_runs),
        "cleanup": lambda st: cleanup.cleanup(st, sessions=s.sessions, expired=s.expired),
        "memory": lambda st: processes.memory(st, runs=s.memory_runs, events=s.memory_events),
        # Starts the whole local stack (front, workers, moto) of its own: the client talks HTTP to it.
        "agent_render": lambda _: agent.agent_render(rounds=s.agent_rounds, sdk_batch=s.agent_sdk_batch),
        # Its own local stack too, behind a proxy adding the round trip; each agent in its own process.
        "agent_load": lambda _: agent.agent_load(calls=s.load_calls, rounds=s.load_rounds, rtt=rtt_ms / 1e3),
        # Node processes: a TypeScript agent with the client and with the SDK alone, over a local stack of its own.
        "ts_agent_load": lambda _: ts_agent.ts_agent_load(rounds=s.ts_rounds, calls=s.ts_calls),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: every case once, too small to measure")
    parser.add_argument("--only", nargs="+", choices=CASES, metavar="CASE", help=f"run only these: {', '.join(CASES)}")
    parser.add_argument("--calls", type=int, help="agent_load: concurrent calls (24; --quick: 2)")
    parser.add_argument(
        "--rtt-ms",
        type=float,
        default=DEFAULT_RTT_MS,
        help=f"agent_load: the round trip to the service, ms ({DEFAULT_RTT_MS:g})",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.calls:
        sizes = dataclasses.replace(sizes, load_calls=args.calls)
    cases = _cases(sizes, args.rtt_ms)
    selected = [name for name in CASES if not args.only or name in args.only]
    results: list[CaseResult] = []
    with MotoProcess() as moto:
        stack = BenchStack(moto.endpoint)
        try:
            for name in selected:
                started = time.perf_counter()
                print(f"running {name} ...", file=sys.stderr, flush=True)
                result = cases[name](stack)
                result.data["case_secs"] = round(time.perf_counter() - started, 1)
                results.append(result)
        finally:
            stack.close()
    print(table([row for result in results for row in result.rows]))
    print(bench_line(results, quick=args.quick), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
