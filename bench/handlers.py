"""Cases `validate_handler` and `mint_batch`: the real Lambda handlers, warm, against moto's server."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import Any

from signalwire.core.security.session_manager import SessionManager

from .report import CaseResult, Row
from .stack import BenchStack, Handler
from .timing import Sample, interleave, ratio, timed

CALL_ID = "bench-call-0001"
FUNCTION = "get_weather"
BATCH_FUNCTIONS = [f"function_{i:02d}" for i in range(20)]


def _invocations(handler: Handler, make_event: Callable[[], dict[str, Any]], n: int) -> list[Callable[[], Any]]:
    """`n` ready calls, each with its own event and context, as the Lambda runtime hands them over."""
    from local.lambda_runtime import LambdaContext

    return [functools.partial(handler, make_event(), LambdaContext()) for _ in range(n)]


def _expect(response: dict[str, Any], status: int) -> dict[str, Any]:
    if response.get("statusCode") != status:
        raise RuntimeError(f"expected {status}, got {response!r}")
    body: dict[str, Any] = json.loads(response["body"])
    return body


def _references(sdk: SessionManager) -> dict[str, Handler]:
    """Handlers beside functions/validate, each keeping part of it: the target's baseline and two floors.

    All record the metric validate records (one dimension, one count), so Metrics' flush
    serializes the same EMF line.
    - `floor_logger_metrics`: Logger's context injection and Metrics' flush around a function
      that returns a prebuilt response, no resolver: what dropping the resolver alone would leave.
    - `floor_powertools`: `session_core.http`'s resolver (JSON errors) and `entry()` (Logger,
      Metrics) around a route that returns a constant: the Powertools stack the function runs.
    - `sdk_behind_powertools` (the baseline): that stack around a route that parses the body and
      asks the SDK's `validate_token`: the SDK's check where ours runs, with its caches as cold as ours.
    """
    from aws_lambda_powertools.logging import correlation_paths
    from aws_lambda_powertools.metrics import MetricUnit
    from session_core.http import body, entry, resolver
    from session_core.telemetry import logger, metrics

    def record() -> None:
        metrics.add_dimension(name="result", value="valid")
        metrics.add_metric(name="Validations", unit=MetricUnit.Count, value=1)

    answer = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": '{"valid":true}'}

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
    @metrics.log_metrics
    def bare(event: dict[str, Any], context: Any) -> dict[str, Any]:
        record()
        return dict(answer)

    constant = resolver()

    @constant.post("/tokens/validate")
    def valid() -> dict[str, Any]:
        record()
        return {"valid": True}

    with_sdk = resolver()

    @with_sdk.post("/tokens/validate")
    def sdk_check() -> dict[str, Any]:
        request = body(with_sdk)
        valid = sdk.validate_token(request["call_id"], request["function"], request["token"])
        record()
        return {"valid": valid}

    return {
        "floor_logger_metrics": bare,
        "floor_powertools": entry(constant, trace=False),
        "sdk_behind_powertools": entry(with_sdk, trace=False),
    }


def validate_handler(stack: BenchStack, *, rounds: int, handler_batch: int, sdk_batch: int) -> CaseResult:
    """functions/validate answering a real HTTP API v2 event (Logger, Metrics on) vs the SDK's
    validate_token behind the same Powertools stack; the bare validate_token for scale."""
    from local.lambda_runtime import LambdaContext, http_event

    provisioned = stack.provision("bench-validate")
    stack.use("validate", provisioned)
    handler = stack.handler("validate")
    sdk = SessionManager(secret_key=provisioned.signing_key)
    token = sdk.create_tool_token(FUNCTION, CALL_ID)
    body = {"call_id": CALL_ID, "function": FUNCTION, "token": token}

    def event() -> dict[str, Any]:
        return http_event("POST", "/tokens/validate", body)

    with stack.quiet():
        first = _expect(handler(event(), LambdaContext()), 200)  # the container's first call reads the key
    if first != {"valid": True} or not sdk.validate_token(CALL_ID, FUNCTION, token):
        raise RuntimeError(f"validate answered {first!r}")

    def invoking(h: Handler) -> Callable[[int], Sample]:
        def run(n: int) -> Sample:
            calls = _invocations(h, event, n)
            with stack.quiet():
                return timed(calls, n)

        return run

    with stack.quiet():  # Logger binds its stream when a handler is first wrapped
        references = _references(sdk)
        for name, reference in references.items():  # a reference that fails would time its error path
            if (answer := _expect(reference(event(), LambdaContext()), 200)) != {"valid": True}:
                raise RuntimeError(f"reference {name} answered {answer!r}")
    before, _ = stack.calls.snapshot()
    measured = interleave(
        {
            "ours": invoking(handler),
            "sdk": lambda n: timed(lambda: sdk.validate_token(CALL_ID, FUNCTION, token), n),
            **{name: invoking(reference) for name, reference in references.items()},
        },
        rounds=rounds,
        batch={"ours": handler_batch, "sdk": sdk_batch, **dict.fromkeys(references, handler_batch)},
    )
    aws_calls = stack.calls.snapshot()[0] - before
    invocations = (rounds + 2) * handler_batch  # the two warm-up rounds included
    handler_t, sdk_t = measured["ours"].wall, measured["sdk"].wall
    # The target's baseline: the SDK's own check where ours runs, behind the same Powertools stack.
    base_t = measured["sdk_behind_powertools"].wall
    floors = {name: measured[name].wall for name in references if name.startswith("floor_")}
    return CaseResult(
        "validate_handler",
        {
            "unit": "us",
            "ours": handler_t.scaled(1e6),
            "sdk_behind_powertools": base_t.scaled(1e6),
            "ratio": round(ratio(handler_t.median, base_t.median), 4),
            "sdk": sdk_t.scaled(1e6),
            "ratio_vs_sdk": round(ratio(handler_t.median, sdk_t.median), 4),
            "references": {
                name: {**t.scaled(1e6), "ratio": round(ratio(t.median, base_t.median), 4)} for name, t in floors.items()
            },
            "aws_calls": aws_calls,
            "warm_invocations": invocations,
            "revocation_check": stack.function_env("validate", provisioned)["REVOCATION_CHECK"],
        },
        [
            Row("validate_handler", round(handler_t.median * 1e6, 1), round(base_t.median * 1e6, 1), "us", 1.15),
            Row("validate_handler_aws_calls", aws_calls, None, "calls", 0, "exactly"),
            *(
                Row.reference(f"validate_handler_{name}", round(t.median * 1e6, 1), round(base_t.median * 1e6, 1), "us")
                for name, t in floors.items()
            ),
            Row.reference(
                "validate_handler_sdk_validate_token", round(sdk_t.median * 1e6, 3), round(base_t.median * 1e6, 1), "us"
            ),
        ],
    )


def mint_batch(stack: BenchStack, *, rounds: int, sdk_batch: int) -> CaseResult:
    """One token call minting 20 tokens vs 20 single-token calls of the same handler (each reads the session)."""
    from session_core.config import settings
    from session_core.service import default_service
    from session_rules.tokens import mint

    from local.lambda_runtime import LambdaContext, http_event

    provisioned = stack.provision("bench-mint")
    stack.use("token", provisioned)
    create, handler = stack.handler("create"), stack.handler("token")
    path = f"/sessions/{CALL_ID}/tokens"
    route = "POST /sessions/{call_id}/tokens"
    sdk = SessionManager(secret_key=provisioned.signing_key)
    key, expiry_secs = provisioned.signing_key.encode(), settings().token_expiry_secs

    def event(request: dict[str, Any]) -> Callable[[], dict[str, Any]]:
        def make() -> dict[str, Any]:
            built = http_event("POST", path, request, route_key=route)
            built["pathParameters"] = {"call_id": CALL_ID}  # as API Gateway fills it for this route
            return built

        return make

    batch_event = event({"functions": BATCH_FUNCTIONS})
    single_events = [event({"function": name}) for name in BATCH_FUNCTIONS]

    with stack.quiet():
        _expect(create(http_event("POST", "/sessions", {"call_id": CALL_ID}), LambdaContext()), 201)
        minted = _expect(handler(batch_event(), LambdaContext()), 201)["tokens"]
    session_store = default_service().store  # the token handler's, now that it has run
    if session_store.get(CALL_ID) is None:
        raise RuntimeError("the session the floor reads is missing")
    if sorted(minted) != sorted(BATCH_FUNCTIONS) or not all(
        sdk.validate_token(CALL_ID, name, tok) for name, tok in minted.items()
    ):
        raise RuntimeError("the batch's tokens do not validate with the SDK")

    per_batch: list[int] = []  # AWS calls of each timed batch call

    def batch(n: int) -> Sample:
        calls = _invocations(handler, batch_event, n)
        before, _ = stack.calls.snapshot()
        with stack.quiet():
            sample = timed(calls, n)
        per_batch.append(stack.calls.snapshot()[0] - before)
        return sample

    created = iter(range(10**9))

    def create_new(n: int) -> Sample:
        # Not compared: the warm duration of a create (one conditional PutItem), for the cost estimate.
        calls = _invocations(create, lambda: http_event("POST", "/sessions", {"call_id": f"new-{next(created)}"}), n)
        with stack.quiet():
            return timed(calls, n)

    def singles(n: int) -> Sample:
        # One sample unit is the 20 calls a client without the batch route makes.
        calls = [c for _ in range(n) for make in single_events for c in _invocations(handler, make, 1)]
        with stack.quiet():
            sample = timed(calls, len(calls))
        return Sample(sample.wall * len(BATCH_FUNCTIONS), sample.cpu * len(BATCH_FUNCTIONS), n)

    measured = interleave(
        {
            "batch": batch,
            "singles": singles,
            "sdk_mint": lambda n: timed(lambda: sdk.create_tool_token(FUNCTION, CALL_ID), n),
            "core_mint": lambda n: timed(lambda: mint(key, CALL_ID, FUNCTION, int(time.time()) + expiry_secs), n),
            "create": create_new,
            # The floor: the one consistent GetItem a mint needs, through the handler's own store and client.
            "session_read": lambda n: timed(lambda: session_store.get(CALL_ID), n),
        },
        rounds=rounds,
        batch={"batch": 1, "singles": 1, "sdk_mint": sdk_batch, "core_mint": sdk_batch, "create": 1, "session_read": 1},
    )
    batch_t, singles_t = measured["batch"].wall, measured["singles"].wall
    # Every batch made the same number of calls, or the row shows their mean (and misses).
    calls_per_batch = max(per_batch) if min(per_batch) == max(per_batch) else sum(per_batch) / len(per_batch)
    tokens = len(BATCH_FUNCTIONS)
    cpu_per_token = measured["batch"].cpu.median / tokens
    sdk_cpu = measured["sdk_mint"].cpu.median
    core_cpu = measured["core_mint"].cpu.median
    read_cpu = measured["session_read"].cpu.median
    # The floor: what a batch cannot avoid, per token: the one session read spread over the
    # batch, plus one mint (the core's, which the handler runs for each name).
    floor_per_token = read_cpu / tokens + core_cpu
    return CaseResult(
        "mint_batch",
        {
            "tokens_per_batch": tokens,
            "unit": "ms",
            "batch": batch_t.scaled(1e3),
            "singles": singles_t.scaled(1e3),
            "create": measured["create"].wall.scaled(1e3),
            "ratio": round(ratio(batch_t.median, singles_t.median), 4),
            "aws_calls_per_batch": max(per_batch),
            "aws_calls_per_batch_min": min(per_batch),
            "batches": len(per_batch),
            "aws_calls_total": sum(per_batch),
            "cpu_per_token_us": round(cpu_per_token * 1e6, 3),
            "cpu_floor_per_token_us": round(floor_per_token * 1e6, 3),
            "cpu_ratio": round(ratio(cpu_per_token, floor_per_token), 4),
            # The floor's parts: the one consistent GetItem, and the core's mint alone (no handler, no AWS call).
            "session_read_cpu_us": round(read_cpu * 1e6, 3),
            "core_mint_cpu_us": round(core_cpu * 1e6, 3),
            # For scale: the SDK's create_tool_token, one local HMAC and no session check.
            "sdk_create_tool_token_cpu_us": round(sdk_cpu * 1e6, 3),
            "cpu_ratio_vs_sdk": round(ratio(cpu_per_token, sdk_cpu), 4),
            "core_mint_cpu_ratio_vs_sdk": round(ratio(core_cpu, sdk_cpu), 4),
        },
        [
            Row("mint_batch", round(batch_t.median * 1e3, 3), round(singles_t.median * 1e3, 3), "ms", 0.1),
            Row("mint_batch_aws_calls_per_batch", calls_per_batch, None, "calls", 1, "exactly"),
            Row("mint_batch_cpu_per_token", round(cpu_per_token * 1e6, 2), round(floor_per_token * 1e6, 2), "us", 1.3),
        ],
    )
