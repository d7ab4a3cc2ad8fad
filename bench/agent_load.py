"""An agent under SignalWire's load: a real AgentBase served by uvicorn, concurrent calls against it.

Shared by the benchmark's `agent_load` case and the client's tests. The agent (`make_agent`) is a
signalwire-sdk `AgentBase` with 3 secure tools and a post-prompt, in one of three modes:

- "sdk": the SDK's own in-process SessionManager, replicas sharing one secret (`swaig_secret=`);
- "key": `RemoteSessionManager(url, secret_key=...)`, the client holding the service's key;
- "remote": `RemoteSessionManager(url)`, every check asked of the service.

`run_calls(base, calls=C)` plays SignalWire: C calls at once, each fetching its SWML with the body
SignalWire sends (`{"call": {"call_id": <uuid>, ...}}`), then calling `tools_per_call` tools as
the AI does (the SWAIG request body, the `__token` from the function's `web_hook_url`). It
records each call's render and tool-call latencies and what every tool call came to: run,
refused, or failed.

The agent serves in this process (`served`, a uvicorn thread: the tests) or in its own
(`agent_process`, `python -m bench.agent_load`: the benchmark, so the load generator's and the
network's CPU never share the agent's interpreter). Each agent counts the HTTP requests its
client sends (a counting `requests.Session`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import requests

MODES = ("sdk", "key", "remote")
TOOLS = ("get_weather", "get_time", "get_news")
ROUTE = "/agent"
AUTH = ("signalwire", "load-test-password")
REFUSED = "the security token for this function is invalid or expired"  # the SDK's answer to a bad token
READY_TIMEOUT_SECS = 60.0
CALL_TIMEOUT_SECS = 120.0  # the load generator's own bound on any one request to the agent
QUIET_SECS = 0.3


class CountingSession(requests.Session):
    """A requests.Session that counts what it sends, per call id: one per HTTP request the client makes."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0
        self.per_call: dict[str, int] = {}  # "" for a request that names no call
        self._lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        call_id = _call_of(request)
        with self._lock:
            self.sent += 1
            self.per_call[call_id] = self.per_call.get(call_id, 0) + 1
        return super().send(request, **kwargs)


def _call_of(request: requests.PreparedRequest) -> str:
    """The call a request to the service is about: its path's (/sessions/{call_id}/...) or its body's."""
    parts = urlsplit(request.url or "").path.split("/")
    if "sessions" in parts and len(parts) > parts.index("sessions") + 1:
        return parts[parts.index("sessions") + 1]
    if not isinstance(request.body, bytes | str):
        return ""
    try:
        body = json.loads(request.body)
    except ValueError:
        return ""
    return str(body.get("call_id", "")) if isinstance(body, dict) else ""


# -- the agent ---------------------------------------------------------------------------------


@dataclass
class Agent:
    """The served AgentBase, its client (none in "sdk" mode) and what its tools did."""

    mode: str
    agent: Any
    manager: Any = None
    session: CountingSession | None = None
    ran: dict[str, int] = field(default_factory=dict)  # tool runs per call id
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def sent(self) -> int:
        return self.session.sent if self.session else 0

    def close(self) -> None:
        if self.manager is not None:
            self.manager.close()


def make_agent(mode: str, service_url: str | None = None, key: str | None = None, **client_options: Any) -> Agent:
    """An AgentBase with 3 secure tools and a post-prompt, its session manager set for `mode`."""
    from signalwire import AgentBase
    from signalwire.core.function_result import FunctionResult

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    options: dict[str, Any] = {"swaig_secret": key} if mode == "sdk" else {}
    agent = AgentBase(name=f"load-{mode}", route=ROUTE, basic_auth=AUTH, suppress_logs=True, **options)
    served = Agent(mode, agent)
    agent.prompt_add_section("Role", "You answer questions about the weather, the time and the news.")
    agent.set_post_prompt("Summarize the call in one sentence.")

    def tool(name: str) -> Any:
        def handler(args: dict[str, Any], raw: dict[str, Any]) -> Any:
            with served.lock:
                call_id = str(raw.get("call_id"))
                served.ran[call_id] = served.ran.get(call_id, 0) + 1
            return FunctionResult(f"{name} ran for {args.get('city', '?')}")

        return handler

    for name in TOOLS:
        agent.define_tool(name, f"The {name.removeprefix('get_')} in a city", {"city": {"type": "string"}}, tool(name))
    if mode != "sdk":
        from session_client import RemoteSessionManager

        if service_url is None:
            raise ValueError(f"mode {mode!r} needs the service's URL")
        served.session = CountingSession()
        served.manager = RemoteSessionManager(
            service_url, secret_key=key if mode == "key" else None, session=served.session, **client_options
        ).install(agent)  # the one adoption line
    return served


class Served(NamedTuple):
    url: str
    loop_thread: str  # the name of the thread the agent's event loop runs in


@contextlib.contextmanager
def served(agent: Any) -> Iterator[Served]:
    """The agent's own FastAPI app (`get_app()`) under uvicorn on a free loopback port, its event
    loop in a thread of its own: the base URL, and that thread's name (to tell what ran on the loop)."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(agent.get_app(), host="127.0.0.1", port=0, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        limit = time.monotonic() + READY_TIMEOUT_SECS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > limit:
                raise RuntimeError("the agent's server did not start")
            time.sleep(0.01)
        yield Served(f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", thread.name)
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class AgentProcess:
    """An agent served by `python -m bench.agent_load` in a process of its own."""

    mode: str
    url: str
    process: subprocess.Popen[str]
    stats: dict[str, Any] = field(default_factory=dict)  # filled in when it stops

    def _ask(self, command: str, answer: str) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line.startswith(answer):
            raise RuntimeError(f"the {self.mode} agent answered {command!r} with {line!r}")
        return line.removeprefix(answer).strip()

    def quiet(self) -> None:
        """Wait until the agent's client has stopped sending (its background work done)."""
        self._ask("quiet", "QUIET")

    def current(self) -> dict[str, Any]:
        return dict(json.loads(self._ask("stats", "STATS ")))


@contextlib.contextmanager
def agent_process(
    mode: str, service_url: str | None = None, key: str | None = None, **client_options: Any
) -> Iterator[AgentProcess]:
    """The agent in its own process; on leaving, it closes its client (sending what it still holds)
    and reports the requests that client sent (`stats["sent"]`)."""
    from .stack import ROOT

    args = [sys.executable, "-m", "bench.agent_load", "--mode", mode]
    if service_url:
        args += ["--service", service_url]
    if client_options:
        args += ["--client-options", json.dumps(client_options)]
    env = {**os.environ, "SIGNALWIRE_LOG_MODE": "off", "BENCH_AGENT_KEY": key or ""}
    for name in ("SIGNALWIRE_SWAIG_SECRET", "SIGNALWIRE_SIGNING_KEY", "SWML_PROXY_URL_BASE"):
        env.pop(name, None)
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdin is not None and process.stdout is not None
    ready = process.stdout.readline()
    if not ready.startswith("READY "):
        process.kill()
        raise RuntimeError(f"the {mode} agent did not start: {ready!r} {process.communicate()[1][-2000:]}")
    running = AgentProcess(mode, ready.split()[1], process)
    try:
        yield running
    finally:
        out, err = process.communicate("", timeout=60)  # stdin closed: stop
        stats = [line for line in out.splitlines() if line.startswith("STATS ")]
        if process.returncode != 0 or not stats:
            raise RuntimeError(f"the {mode} agent failed ({process.returncode}): {err[-2000:]}")
        running.stats = json.loads(stats[-1].removeprefix("STATS "))


def _serve(argv: Sequence[str] | None = None) -> int:
    """`python -m bench.agent_load --mode M [--service URL]`: serve, taking commands on stdin.

    Prints `READY <base url>`. Commands: `quiet` waits until the client has sent nothing for
    QUIET_SECS (a key-mode client sends in the background), then prints `QUIET`; `stats` prints
    `STATS {"sent": n, "per_call": {call_id: n}, "ran": n}`. At stdin's end the client is closed
    (sending what it still holds) and the final STATS line printed.
    """
    parser = argparse.ArgumentParser(prog="python -m bench.agent_load")
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--service")
    parser.add_argument("--client-options", default="{}", help="JSON: RemoteSessionManager keyword arguments")
    args = parser.parse_args(argv)
    key = os.environ.get("BENCH_AGENT_KEY") or None  # in the environment, never on a command line
    agent = make_agent(args.mode, args.service, key, **json.loads(args.client_options))

    def stats() -> None:
        per_call = dict(agent.session.per_call) if agent.session else {}
        print("STATS " + json.dumps({"sent": agent.sent, "per_call": per_call, "ran": sum(agent.ran.values())}))

    with served(agent.agent) as (base, _):
        print(f"READY {base}", flush=True)
        for line in sys.stdin:
            if line.strip() == "quiet":
                seen, still = agent.sent, time.monotonic()
                while time.monotonic() - still < QUIET_SECS:
                    time.sleep(0.02)
                    if agent.sent != seen:
                        seen, still = agent.sent, time.monotonic()
                print("QUIET", flush=True)
            elif line.strip() == "stats":
                stats()
            sys.stdout.flush()
    agent.close()
    stats()
    return 0


# -- the calls ---------------------------------------------------------------------------------


@dataclass
class ToolCall:
    function: str
    secs: float
    status: int
    outcome: str  # "ran", "refused" (the SDK's answer to a bad token) or "failed" (an error answer)
    token: bool  # the SWML carried a token for it


@dataclass
class Call:
    call_id: str
    render_secs: float
    render_status: int
    tokens: dict[str, str | None]  # every function the SWML names, with its token if any
    tools: list[ToolCall]


@dataclass
class Load:
    wall_secs: float
    calls: list[Call]

    @property
    def renders(self) -> list[float]:
        return [call.render_secs for call in self.calls]

    @property
    def tool_calls(self) -> list[float]:
        return [tool.secs for call in self.calls for tool in call.tools]

    def outcomes(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for call in self.calls:
            for tool in call.tools:
                counted[tool.outcome] = counted.get(tool.outcome, 0) + 1
        return counted


def percentile(values: Sequence[float], p: int) -> float:
    """The p-th percentile (inclusive method; the one value when there is one)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[p - 1]


def swml_body(call_id: str) -> dict[str, Any]:
    """What SignalWire POSTs to an agent's SWML URL when a call comes in (the fields the SDK reads, and more)."""
    return {
        "call": {
            "call_id": call_id,
            "node_id": "bench-node",
            "segment_id": str(uuid.uuid4()),
            "call_state": "created",
            "direction": "inbound",
            "type": "phone",
            "from": "+15551230000",
            "to": "+15559870000",
            "headers": [],
            "project_id": "00000000-0000-0000-0000-000000000001",
            "space_id": "00000000-0000-0000-0000-000000000002",
            "context": "default",
        },
        "vars": {},
    }


def swaig_body(function: str, call_id: str, args: dict[str, Any]) -> dict[str, Any]:
    """The SWAIG function request SignalWire's AI POSTs to a tool's web_hook_url (SwaigRequest)."""
    return {
        "app_name": "swml app",
        "function": function,
        "purpose": f"The {function} tool",
        "argument_desc": {"type": "object", "properties": {"city": {"type": "string"}}},
        "argument": {"parsed": [args], "raw": json.dumps(args), "substituted": ""},
        "call_id": call_id,
        "ai_session_id": str(uuid.uuid4()),
        "caller_id_name": "Bench",
        "caller_id_num": "+15551230000",
        "channel_active": True,
        "channel_offhook": True,
        "channel_ready": True,
        "content_type": "text/swaig",
        "content_disposition": "SWAIG Function",
        "version": "2.0",
        "meta_data": {},
        "project_id": "00000000-0000-0000-0000-000000000001",
        "space_id": "00000000-0000-0000-0000-000000000002",
    }


def functions_of(swml: dict[str, Any]) -> dict[str, str]:
    """{function: web_hook_url} of every SWAIG function (and the post-prompt) in a SWML document."""
    ai = next(verb["ai"] for verb in swml["sections"]["main"] if "ai" in verb)
    default = ai["SWAIG"].get("defaults", {}).get("web_hook_url", "")
    urls = {fn["function"]: fn.get("web_hook_url", default) for fn in ai["SWAIG"].get("functions", [])}
    urls["post_prompt"] = ai.get("post_prompt_url", "")
    return urls


def _token(url: str) -> str | None:
    return parse_qs(urlsplit(url).query).get("__token", [None])[0]


def one_call(
    base: str,
    http: requests.Session,
    tools: Sequence[str],
    rendered: threading.Barrier | None = None,
    timeout: float = CALL_TIMEOUT_SECS,
) -> Call:
    """A call as SignalWire makes it: the SWML, then each tool the AI calls, in turn (after `rendered`)."""
    call_id = str(uuid.uuid4())
    started = time.perf_counter()
    answer = http.post(base + ROUTE, json=swml_body(call_id), auth=AUTH, timeout=timeout)
    render_secs = time.perf_counter() - started
    if rendered is not None:
        rendered.wait(timeout)  # a call that failed to render breaks it for all, never hangs them
    urls = functions_of(answer.json()) if answer.status_code == 200 else {}
    done: list[ToolCall] = []
    for function in tools:
        url = urls.get(function) or f"{base}{ROUTE}/swaig"
        parts = urlsplit(url)
        started = time.perf_counter()
        reply = http.post(
            f"{base}{parts.path}?{parts.query}" if parts.query else f"{base}{parts.path}",
            json=swaig_body(function, call_id, {"city": "Paris"}),
            auth=AUTH,
            timeout=timeout,
        )
        secs = time.perf_counter() - started
        response = reply.json().get("response", "") if reply.status_code == 200 else ""
        outcome = "ran" if response == f"{function} ran for Paris" else "refused" if REFUSED in response else "failed"
        done.append(ToolCall(function, secs, reply.status_code, outcome, _token(url) is not None))
    return Call(call_id, render_secs, answer.status_code, {name: _token(url) for name, url in urls.items()}, done)


def run_calls(
    base: str,
    *,
    calls: int = 24,
    tools_per_call: int = 2,
    after_renders: Callable[[], None] | None = None,
    timeout: float = CALL_TIMEOUT_SECS,
) -> Load:
    """`calls` concurrent calls to the agent at `base`, all released at once; the whole load's wall time.

    `after_renders`, when given, runs once every call has its SWML and before any calls a tool (to
    change the service's state between them). `timeout` bounds each request to the agent: a render
    or tool call that takes longer raises.
    """
    tools = TOOLS[:tools_per_call]
    gate = threading.Barrier(calls + 1)
    rendered = threading.Barrier(calls, action=after_renders) if after_renders else None
    sessions = [requests.Session() for _ in range(calls)]

    def call(http: requests.Session) -> Call:
        gate.wait()
        return one_call(base, http, tools, rendered, timeout)

    try:
        with ThreadPoolExecutor(max_workers=calls) as pool:
            futures = [pool.submit(call, http) for http in sessions]
            gate.wait()
            started = time.perf_counter()
            finished = [future.result() for future in futures]
            wall = time.perf_counter() - started
    finally:
        for http in sessions:
            http.close()
    return Load(wall, finished)


if __name__ == "__main__":
    sys.exit(_serve())
