"""Cases `agent_render` and `agent_load`: a real SDK AgentBase with the client as its session manager.

`agent_render`: an agent with a post-prompt and 1 tool and one with 10 tools, each with the
client pointed at the whole local stack (`python -m local.serve`: the HTTP front, worker
processes running the real handlers, moto), as `RemoteSessionManager(url)` and with
`secret_key=` the stack's signing key, each rendering without a call id and with one.
`_render_swml()` with no call id is what the SDK runs for a request that names no call:
create_session(), then create_tool_token(name, call_id) per tool and for the post-prompt.
`_render_swml(call_id)` is SignalWire's real traffic (its request names the call): the SDK
then never calls create_session, only create_tool_token per tool and for the post-prompt.

Measured per variant: the HTTP requests the client sends about each render's call (a counting
`requests.Session` handed to the client, by the call id each request names, once every client
is closed so that what it sends in the background counts too; the total checked against the
front's own request log) and the render's wall time. The first render of each agent is not
recorded: a client may learn the agent's function names from it. The SDK's own in-process
render (its default SessionManager) is measured in the same rounds, for scale.

Every render's SWML is checked: each tool's and the post-prompt's URL must carry a token the
stack's key validates for that function and the render's call id (the SDK logs and swallows a
failed mint, so a broken client would otherwise render fast and tokenless).

`agent_load`: the agent under SignalWire's load (bench/agent_load.py), in its three modes.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from signalwire.core.security.session_manager import SessionManager

from .agent_load import MODES, TOOLS, CountingSession, Load, agent_process, percentile, run_calls
from .report import CaseResult, Row
from .timing import Sample, interleave, ratio, timed

POST_PROMPT = "post_prompt"  # the function name the SDK mints the post-prompt's token for
TOOL_COUNTS = (1, 10)
# The front's log line for each request to the service's routes: "POST /sessions 201 5ms create"
# (not its readiness probes of "/").
_REQUEST_LINE = re.compile(r"^[A-Z]+ /(?:sessions|tokens)\S* \d{3} \d+ms ", re.MULTILINE)
LOG_SETTLE_SECS = 5.0  # the front logs a request just after answering it
# The local stack's first request to each handler imports it in a fresh worker, which on a loaded
# machine takes longer than the client's default render budget and call deadline: measured renders are warm.
COLD_RENDER_BUDGET_SECS = 60.0


def _tool(args: dict[str, Any], raw_data: dict[str, Any]) -> Any:
    return None  # never called: only rendered


def make_agent(tools: int) -> Any:
    """An AgentBase with a prompt, a post-prompt and `tools` secure tools (define_tool's default)."""
    from signalwire import AgentBase

    agent = AgentBase(name=f"bench-{tools}", route="/", suppress_logs=True, basic_auth=("bench", "bench"))
    agent.set_prompt_text("You answer questions about the weather.")
    agent.set_post_prompt("Summarize the call in one sentence.")
    for i in range(tools):
        agent.define_tool(
            name=f"tool_{i:02d}",
            description=f"Tool number {i}.",
            parameters={"city": {"type": "string", "description": "The city."}},
            handler=_tool,
        )
    return agent


def _token_fields(token: str) -> tuple[str, str]:
    """(call_id, function) of an SDK-format token: base64url of call_id.function.expiry.nonce.sig."""
    parts = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().split(".")
    return ".".join(parts[:-4]), parts[-4]


def check_swml(swml: str, tools: int, check: SessionManager) -> str:
    """The render's call id, once every tool and the post-prompt carry a token valid for it."""
    ai = next(verb["ai"] for verb in json.loads(swml)["sections"]["main"] if "ai" in verb)
    urls = {fn["function"]: fn.get("web_hook_url", "") for fn in ai["SWAIG"]["functions"]}
    urls[POST_PROMPT] = ai.get("post_prompt_url", "")
    expected = {f"tool_{i:02d}" for i in range(tools)} | {POST_PROMPT}
    if set(urls) != expected:
        raise RuntimeError(f"rendered functions {sorted(urls)}, expected {sorted(expected)}")
    call_ids = set()
    for name, url in urls.items():
        token = parse_qs(urlsplit(url).query).get("__token", [""])[0]
        if not token:
            raise RuntimeError(f"the render carries no token for {name}: {url!r}")
        call_id, function = _token_fields(token)
        if function != name or not check.validate_token(call_id, name, token):
            raise RuntimeError(f"the token rendered for {name} does not validate")
        call_ids.add(call_id)
    if len(call_ids) != 1:
        raise RuntimeError(f"one render, several call ids: {sorted(call_ids)}")
    return call_ids.pop()


def _front_requests(log: str) -> int:
    return len(_REQUEST_LINE.findall(log))


def _per_render(counts: list[int]) -> float:
    """Requests per measured render: the count when every render sent the same, else their mean."""
    return counts[0] if min(counts) == max(counts) else sum(counts) / len(counts)


def _suffix(tools: int, key: bool, call_id: bool = False) -> str:
    return ("1_tool" if tools == 1 else f"{tools}_tools") + ("_key" if key else "") + ("_call_id" if call_id else "")


def agent_render(*, rounds: int, sdk_batch: int) -> CaseResult:
    """Remote renders (1 and 10 tools, without and with the key, without and with SignalWire's call id)
    and the SDK's in-process ones, interleaved."""
    from session_client import RemoteSessionManager

    from harness.served import running_stack

    warmup = 1  # interleave's warm-up round, after each agent's own first render
    with running_stack() as stack:
        check = SessionManager(secret_key=stack.signing_key)
        sessions: dict[str, CountingSession] = {}
        managers: list[Any] = []
        rendered_calls: dict[str, list[str]] = {}  # each render's call id, in order, the first included
        variants: dict[str, Callable[[int], Sample]] = {}

        def add(name: str, tools: int, manager: Any, validator: SessionManager | None, named: bool) -> None:
            agent = make_agent(tools)
            if manager is not None:
                agent._session_manager = manager
            order, rendered = rendered_calls.setdefault(name, []), []

            def render() -> None:
                # SignalWire's request names the call (the SDK then never calls create_session);
                # a request without one makes the SDK start a session of its own.
                call_id = str(uuid.uuid4()) if named else None
                rendered.append((call_id, agent._render_swml(call_id)))

            def run(n: int) -> Sample:
                sample = timed(render, n)
                for call_id, swml in rendered:
                    got = check_swml(swml, tools, validator or agent._session_manager)
                    if call_id is not None and got != call_id:
                        raise RuntimeError(f"{name}: rendered for {got}, asked for {call_id}")
                    order.append(got)
                rendered.clear()
                return sample

            run(1)  # the first render, never recorded: the client may learn the agent's function names here
            variants[name] = run

        for tools in TOOL_COUNTS:
            for key in (False, True):
                for named in (False, True):
                    name = f"remote_{_suffix(tools, key, named)}"
                    session = sessions[name] = CountingSession()
                    manager = RemoteSessionManager(
                        stack.base_url,
                        secret_key=stack.signing_key if key else None,
                        session=session,
                        render_budget_secs=COLD_RENDER_BUDGET_SECS,
                        deadline_secs=COLD_RENDER_BUDGET_SECS,
                    )
                    managers.append(manager)
                    add(name, tools, manager, check, named)
            add(
                f"sdk_{_suffix(tools, False)}", tools, None, None, False
            )  # the SDK's SessionManager, validating its own
        measured = interleave(
            variants,
            rounds=rounds,
            batch={name: sdk_batch if name.startswith("sdk_") else 1 for name in variants},
            warmup=warmup,
        )
        for manager in managers:
            manager.close()  # whatever a client still holds to send is sent: every render's requests count
        sent = sum(session.sent for session in sessions.values())
        deadline = time.monotonic() + LOG_SETTLE_SECS
        while (front := _front_requests(stack.log())) < sent and time.monotonic() < deadline:
            time.sleep(0.05)

    counts: dict[str, list[int]] = {}  # the requests about each render's call, in order
    for name, session in sessions.items():
        order = rendered_calls[name]
        if len(set(order)) != len(order):  # every remote render started a session of its own
            raise RuntimeError(f"{name}: {len(order)} renders, {len(set(order))} call ids")
        counts[name] = [session.per_call.get(call_id, 0) for call_id in order]
        if sum(counts[name]) != session.sent:
            raise RuntimeError(f"{name}: {session.sent} requests sent, {sum(counts[name])} about its renders")
    wall = {name: m.wall for name, m in measured.items()}
    ms = {name: round(t.median * 1e3, 3) for name, t in wall.items()}
    recorded = {name: counts[name][1 + warmup :] for name in sessions}
    rows: list[Row] = []
    for key in (False, True):
        for named in (False, True):
            for tools in TOOL_COUNTS:
                suffix = _suffix(tools, key, named)
                rows.append(
                    Row(
                        f"agent_render_requests_{suffix}",
                        _per_render(recorded[f"remote_{suffix}"]),
                        None,
                        "requests",
                        1,
                        "exactly",
                    )
                )
        many, one = f"remote_{_suffix(10, key)}", f"remote_{_suffix(1, key)}"
        if not key:  # one round trip, for 1 tool as for 10
            rows.append(Row("agent_render_10_vs_1_tools", ms[many], ms[one], "ms", 1.3))
        else:  # no request: the render mints in process, so it grows with its tokens as the SDK's does
            rows.append(Row.reference("agent_render_10_vs_1_tools_key", ms[many], ms[one], "ms"))
    for tools in TOOL_COUNTS:
        sdk, remote, keyed = (
            f"{variant}_{_suffix(tools, key)}" for variant, key in (("sdk", False), ("remote", False), ("remote", True))
        )
        rows.append(Row.reference(f"agent_render_sdk_{_suffix(tools, False)}", ms[sdk], ms[remote], "ms"))
        rows.append(Row.reference(f"agent_render_key_vs_sdk_{_suffix(tools, False)}", ms[keyed], ms[sdk], "ms"))
    return CaseResult(
        "agent_render",
        {
            "unit": "ms",
            "tools": list(TOOL_COUNTS),
            "post_prompt": True,
            "rounds": rounds,
            **{
                name: {**t.scaled(1e3), "cpu_median": round(measured[name].cpu.median * 1e3, 3)}
                for name, t in wall.items()
            },
            "requests_per_render": {name: _per_render(taken) for name, taken in recorded.items()},
            "requests_first_render": {name: counts[name][0] for name in sessions},
            "requests_sent": sent,
            "requests_at_front": front,
            "ratio_10_vs_1": round(ratio(ms["remote_10_tools"], ms["remote_1_tool"]), 4),
            "ratio_10_vs_1_key": round(ratio(ms["remote_10_tools_key"], ms["remote_1_tool_key"]), 4),
            "sdk_ratio_10_vs_1": round(ratio(wall["sdk_10_tools"].median, wall["sdk_1_tool"].median), 4),
        },
        rows,
    )


# -- case `agent_load` -------------------------------------------------------------------------


WARM_CALLS = 8  # each: a create, a mint and a validation


def _warm(base_url: str, parallel: int) -> None:
    """Start the stack's workers before any agent asks (a cold worker imports its handler on its first
    event): `parallel` creates, mints and validations at once, so each function has its workers."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> None:
        call_id = f"warm-{i}-{time.monotonic_ns()}"
        with requests.Session() as http:
            http.post(f"{base_url}/sessions", json={"call_id": call_id}, timeout=60)
            token = http.post(f"{base_url}/sessions/{call_id}/tokens", json={"function": "f"}, timeout=60).json()
            body = {"call_id": call_id, "function": "f", "token": token.get("token", "x")}
            http.post(f"{base_url}/tokens/validate", json=body, timeout=60)

    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, range(parallel)))


def _checked(mode: str, load: Load, tools_per_call: int) -> None:
    """Every call rendered with a token for every function, and every tool call ran: else the numbers
    would time a broken agent (the SDK logs and swallows a failed mint, and renders on)."""
    expected = {*TOOLS, "post_prompt"}
    for call in load.calls:
        if call.render_status != 200 or set(call.tokens) != expected or None in call.tokens.values():
            raise RuntimeError(f"{mode}: call {call.call_id} rendered {call.render_status} with {call.tokens}")
    outcomes = load.outcomes()
    if outcomes != {"ran": len(load.calls) * tools_per_call}:
        raise RuntimeError(f"{mode}: tool calls came to {outcomes}")


def agent_load(*, calls: int, rounds: int, rtt: float, tools_per_call: int = 2) -> CaseResult:
    """The three modes side by side: each agent in a process of its own, the stack behind a proxy adding `rtt`."""
    from harness.fault_proxy import fault_proxy
    from harness.served import running_stack

    loads: dict[str, list[Load]] = {mode: [] for mode in MODES}
    with running_stack() as stack:
        _warm(stack.base_url, WARM_CALLS)
        port = int(stack.base_url.rsplit(":", 1)[1])
        with fault_proxy(port, rtt=rtt) as proxy, contextlib.ExitStack() as running:
            agents = {mode: running.enter_context(agent_process(mode, proxy.url, stack.signing_key)) for mode in MODES}
            for agent in agents.values():  # warm-up: each agent's first calls, not recorded
                run_calls(agent.url, calls=calls, tools_per_call=tools_per_call)
                agent.quiet()
            for r in range(rounds):
                shift = r % len(MODES)
                for mode in MODES[shift:] + MODES[:shift]:
                    load = run_calls(agents[mode].url, calls=calls, tools_per_call=tools_per_call)
                    _checked(mode, load, tools_per_call)
                    loads[mode].append(load)
                    agents[mode].quiet()  # its background sends done before the next mode's round
        # The agents have stopped, their clients closed: everything they sent has been answered.
        sent = sum(agent.stats["sent"] for agent in agents.values())
        deadline = time.monotonic() + LOG_SETTLE_SECS
        while (front := _front_requests(stack.log()) - 3 * WARM_CALLS) < sent and time.monotonic() < deadline:
            time.sleep(0.05)

    data: dict[str, Any] = {
        "unit": "ms",
        "calls": calls,
        "rounds": rounds,
        "rtt_ms": round(rtt * 1e3, 3),
        "tools": len(TOOLS),
        "tools_per_call": tools_per_call,
        "requests_sent": sent,
        "requests_at_front": front,
    }
    wall: dict[str, float] = {}
    render_p95: dict[str, float] = {}
    tool_p95: dict[str, float] = {}
    per_call: dict[str, float] = {}
    for mode in MODES:
        taken = loads[mode]
        renders = [secs for load in taken for secs in load.renders]
        tools = [secs for load in taken for secs in load.tool_calls]
        measured_calls = [call.call_id for load in taken for call in load.calls]
        counts = [agents[mode].stats["per_call"].get(call_id, 0) for call_id in measured_calls]
        wall[mode] = statistics.median(load.wall_secs for load in taken) * 1e3
        render_p95[mode] = percentile(renders, 95) * 1e3
        tool_p95[mode] = percentile(tools, 95) * 1e3
        per_call[mode] = _per_render(counts)
        data[mode] = {
            "wall_ms": round(wall[mode], 3),
            "wall_ms_rounds": [round(load.wall_secs * 1e3, 3) for load in taken],
            "render_p50_ms": round(percentile(renders, 50) * 1e3, 3),
            "render_p95_ms": round(render_p95[mode], 3),
            "tool_call_p50_ms": round(percentile(tools, 50) * 1e3, 3),
            "tool_call_p95_ms": round(tool_p95[mode], 3),
            "requests_per_call": per_call[mode],
            "requests_sent": agents[mode].stats["sent"],
            "requests_naming_no_call": agents[mode].stats["per_call"].get("", 0),
            "tool_runs": agents[mode].stats["ran"],
        }
    # Paired: the median over rounds of each round's ratio, the modes of a round run back to back,
    # so a burst of load from elsewhere on the machine lands on both sides of a pair.
    paired = {
        mode: round(
            statistics.median(
                ours.wall_secs / sdk.wall_secs for ours, sdk in zip(loads[mode], loads["sdk"], strict=True)
            ),
            4,
        )
        for mode in ("key", "remote")
    }
    for mode in ("key", "remote"):
        data[f"ratio_{mode}_vs_sdk"] = paired[mode]
        data[f"ratio_{mode}_vs_sdk_medians"] = round(ratio(wall[mode], wall["sdk"]), 4)
    rows = [
        Row("agent_load_key_vs_sdk", round(wall["key"], 3), round(wall["sdk"], 3), "ms", 1.5, paired=paired["key"]),
        Row.reference(
            "agent_load_remote_vs_sdk", round(wall["remote"], 3), round(wall["sdk"], 3), "ms", paired=paired["remote"]
        ),
        Row("agent_load_requests_per_call_key", per_call["key"], None, "requests", 1, "exactly"),
        Row("agent_load_requests_per_call_remote", per_call["remote"], None, "requests", 1 + tools_per_call, "exactly"),
    ]
    for mode in ("key", "remote"):
        for what, p95 in (("render", render_p95), ("tool_call", tool_p95)):
            rows.append(Row.reference(f"agent_load_{what}_p95_{mode}", round(p95[mode], 3), round(p95["sdk"], 3), "ms"))
    return CaseResult("agent_load", data, rows)
