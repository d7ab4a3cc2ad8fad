"""Case `agent_render`: a real SDK AgentBase rendering its SWML through RemoteSessionManager.

An agent with a post-prompt and 1 tool and one with 10 tools, each with the client pointed at
the whole local stack (`python -m local.serve`: the HTTP front, worker processes running the
real handlers, moto), once as `RemoteSessionManager(url)` and once with `secret_key=` the
stack's signing key. `_render_swml()` with no call id is what the SDK runs for every incoming
call: create_session(), then create_tool_token(name, call_id) per tool and for the post-prompt.

Measured per variant: the HTTP requests the client sends per render (a counting
`requests.Session` handed to the client, checked against the front's own request log; with the
key, the render sends none itself and the session's start follows in the background, counted
once sent) and the render's wall time. The first render of each agent is not recorded: a client may learn the
agent's function names from it. The SDK's own in-process render (its default SessionManager)
is measured in the same rounds, for scale.

Every render's SWML is checked: each tool's and the post-prompt's URL must carry a token the
stack's key validates for that function and the render's call id (the SDK logs and swallows a
failed mint, so a broken client would otherwise render fast and tokenless).
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from signalwire.core.security.session_manager import SessionManager

from .report import CaseResult, Row
from .timing import Sample, interleave, ratio, timed

POST_PROMPT = "post_prompt"  # the function name the SDK mints the post-prompt's token for
TOOL_COUNTS = (1, 10)
# The front's log line for each request to the service's routes: "POST /sessions 201 5ms create"
# (not its readiness probes of "/").
_REQUEST_LINE = re.compile(r"^[A-Z]+ /(?:sessions|tokens)\S* \d{3} \d+ms ", re.MULTILINE)
LOG_SETTLE_SECS = 5.0  # the front logs a request just after answering it
# The local stack's first request to each handler imports it in a fresh worker, which on a loaded
# machine takes longer than the client's default render budget: measured renders are warm.
COLD_RENDER_BUDGET_SECS = 60.0


class CountingSession(requests.Session):
    """A requests.Session that counts what it sends: one per HTTP request the client makes."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent += 1
        return super().send(request, **kwargs)


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


def _suffix(tools: int, key: bool) -> str:
    return ("1_tool" if tools == 1 else f"{tools}_tools") + ("_key" if key else "")


def agent_render(*, rounds: int, sdk_batch: int) -> CaseResult:
    """Remote renders (1 and 10 tools, without and with the key) and the SDK's in-process ones, interleaved."""
    from session_client import RemoteSessionManager

    from local.stack import running_stack

    warmup = 1  # interleave's warm-up round, after each agent's own first render
    with running_stack() as stack:
        check = SessionManager(secret_key=stack.signing_key)
        sessions: dict[str, CountingSession] = {}
        counts: dict[str, list[int]] = {}  # requests each render sent, in order, the first included
        call_ids: dict[str, set[str]] = {}
        variants: dict[str, Callable[[int], Sample]] = {}

        def add(
            name: str, tools: int, manager: Any, validator: SessionManager | None, session: CountingSession | None
        ) -> None:
            agent = make_agent(tools)
            if manager is not None:
                agent._session_manager = manager
            taken, seen, rendered = counts.setdefault(name, []), call_ids.setdefault(name, set()), []

            def run(n: int) -> Sample:
                before = session.sent if session else 0
                sample = timed(lambda: rendered.append(agent._render_swml()), n)
                if manager is not None:
                    manager.flush()  # with the key, the session's start is sent in the background: count it
                taken.append((session.sent - before) if session else 0)
                seen.update(check_swml(swml, tools, validator or agent._session_manager) for swml in rendered)
                rendered.clear()
                return sample

            run(1)  # the first render, never recorded: the client may learn the agent's function names here
            variants[name] = run

        for tools in TOOL_COUNTS:
            for key in (False, True):
                name = f"remote_{_suffix(tools, key)}"
                session = sessions[name] = CountingSession()
                manager = RemoteSessionManager(
                    stack.base_url,
                    secret_key=stack.signing_key if key else None,
                    session=session,
                    render_budget_secs=COLD_RENDER_BUDGET_SECS,
                )
                add(name, tools, manager, check, session)
            add(f"sdk_{_suffix(tools, False)}", tools, None, None, None)  # the SDK's SessionManager, validating its own
        measured = interleave(
            variants,
            rounds=rounds,
            batch={name: sdk_batch if name.startswith("sdk_") else 1 for name in variants},
            warmup=warmup,
        )
        sent = sum(session.sent for session in sessions.values())
        deadline = time.monotonic() + LOG_SETTLE_SECS
        while (front := _front_requests(stack.log())) < sent and time.monotonic() < deadline:
            time.sleep(0.05)

    for name in sessions:  # every remote render started a session of its own
        if len(call_ids[name]) != len(counts[name]):
            raise RuntimeError(f"{name}: {len(counts[name])} renders, {len(call_ids[name])} call ids")
    wall = {name: m.wall for name, m in measured.items()}
    ms = {name: round(t.median * 1e3, 3) for name, t in wall.items()}
    recorded = {name: counts[name][1 + warmup :] for name in sessions}
    rows: list[Row] = []
    for key in (False, True):
        for tools in TOOL_COUNTS:
            name = f"remote_{_suffix(tools, key)}"
            rows.append(
                Row(
                    f"agent_render_requests_{_suffix(tools, key)}",
                    _per_render(recorded[name]),
                    None,
                    "requests",
                    1,
                    "exactly",
                )
            )
        many, one = f"remote_{_suffix(10, key)}", f"remote_{_suffix(1, key)}"
        rows.append(Row("agent_render_10_vs_1_tools" + ("_key" if key else ""), ms[many], ms[one], "ms", 1.3))
    for tools in TOOL_COUNTS:
        rows.append(
            Row.reference(
                f"agent_render_sdk_{_suffix(tools, False)}",
                ms[f"sdk_{_suffix(tools, False)}"],
                ms[f"remote_{_suffix(tools, False)}"],
                "ms",
            )
        )
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
