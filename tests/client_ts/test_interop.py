"""A TypeScript agent and a Python agent serving the same calls through one service.

The TypeScript agent is client-ts/examples/weather-agent.mjs (@signalwire/sdk's AgentBase, the
TypeScript client installed, keys read through the secret's ARN), in a node process of its own.
The Python agent is signalwire-sdk's AgentBase with the Python client installed (the key read
through the same ARN, revocation checked by the service). This test plays SignalWire: it fetches
a call's SWML from one agent and calls its tools on the other, with the tokens from that SWML.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from session_client import RemoteSessionManager
from session_rules import tokens
from signalwire import AgentBase
from signalwire.core.function_result import FunctionResult

from harness import node
from harness.served import ServedStack
from local.aws import FAKE_CREDENTIALS, REGION
from tests.support.agent_server import served

AUTH = ("agent-user", "agent-password")  # both agents' (examples/weather-agent.mjs AUTH)
ROUTE = "/weather"
REFUSED = "invalid or expired"  # in both SDKs' refusal of a SWAIG call
WAIT_SECS = 20.0  # a bound to fail by, not a timing assertion
TOOLS = ("get_weather", "get_time", "remember", "recall", "hang_up")


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECS
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


@pytest.fixture
def aws_env(node_stack: ServedStack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The emulated account, for both clients' Secrets Manager reads (never real AWS)."""
    settings = {**FAKE_CREDENTIALS, "AWS_REGION": REGION, "AWS_ENDPOINT_URL_SECRETS_MANAGER": node_stack.aws_endpoint}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SIGNALWIRE_LOG_MODE", "off")
    return settings


@pytest.fixture
def ts_agent(prepared: Path, node_stack: ServedStack, aws_env: dict[str, str]) -> Iterator[str]:
    """The TypeScript agent's base URL; stopped (its client flushed) when the test ends."""
    env = {
        **os.environ,
        **aws_env,
        "SWAIG_API_URL": node_stack.base_url,
        "SWAIG_SECRET_ARN": node_stack.secret_arn,
        "SWAIG_ENDED_CHECK_SECS": "0.5",
    }
    env.pop("PORT", None)  # the agent then takes a free port, whatever PORT the caller has (make exports 3000)
    process = subprocess.Popen(
        [str(node.node()), str(node.CLIENT_TS / "examples" / "weather-agent.mjs")],
        cwd=node.CLIENT_TS,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, f"the TypeScript agent did not start (exit code {process.poll()})"
        yield f"http://127.0.0.1:{json.loads(line)['port']}"
    finally:
        assert process.stdin is not None
        process.stdin.close()  # it flushes its client and exits
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def py_manager(node_stack: ServedStack, aws_env: dict[str, str]) -> Iterator[RemoteSessionManager]:
    manager = RemoteSessionManager(
        node_stack.base_url,
        secret_arn=node_stack.secret_arn,
        revocation_check=True,
        timeout=(3.05, 60.0),
        deadline_secs=60.0,
    )
    assert manager.ready(60)
    yield manager
    manager.close()


def python_agent(manager: RemoteSessionManager) -> AgentBase:
    """The Python twin of examples/weather-agent.mjs: the same tools, on the same route."""
    agent = AgentBase(name="weather", route=ROUTE, basic_auth=AUTH, suppress_logs=True)
    agent.prompt_add_section("Role", "You report the weather.")
    agent.set_post_prompt("Summarize the call in one sentence.")
    params = {"city": {"type": "string"}, "key": {"type": "string"}, "value": {"type": "string"}}

    def remember(args: dict[str, Any], raw: dict[str, Any]) -> FunctionResult:
        manager.set_session_metadata(raw["call_id"], {args["key"]: args["value"]})
        return FunctionResult("Noted")

    def hang_up(args: dict[str, Any], raw: dict[str, Any]) -> FunctionResult:
        manager.end_session(raw["call_id"])
        return FunctionResult("Goodbye")

    handlers: dict[str, Callable[[dict[str, Any], dict[str, Any]], FunctionResult]] = {
        "get_weather": lambda args, raw: FunctionResult(f"Sunny in {args.get('city')}"),
        "get_time": lambda args, raw: FunctionResult(f"Noon in {args.get('city')}"),
        "remember": remember,
        "recall": lambda args, raw: FunctionResult(json.dumps(manager.get_session_metadata(raw["call_id"]))),
        "hang_up": hang_up,
    }
    for name in TOOLS:
        agent.define_tool(name, name.replace("_", " "), params, handlers[name])  # secure by default
    manager.install(agent)
    return agent


def swml_tokens(base: str, call_id: str) -> dict[str, str]:
    """SignalWire's SWML request for a call (its id in `call`); each tool's token from the answer."""
    body = {"call": {"call_id": call_id, "from": "+15551230000", "to": "+15559870000", "direction": "inbound"}}
    document = requests.post(f"{base}{ROUTE}", json=body, auth=AUTH, timeout=60).json()
    ai = next(verb["ai"] for verb in document["sections"]["main"] if "ai" in verb)
    found = {
        fn["function"]: parse_qs(urlsplit(fn["web_hook_url"]).query)["__token"][0] for fn in ai["SWAIG"]["functions"]
    }
    assert set(found) == set(TOOLS)
    return found


def call_tool(base: str, function: str, token: str, call_id: str, **args: str) -> str:
    """The AI's SWAIG call, as SignalWire sends it."""
    body: dict[str, Any] = {"function": function, "argument": {"parsed": [args]}, "call_id": call_id}
    answer = requests.post(f"{base}{ROUTE}/swaig", params={"__token": token}, json=body, auth=AUTH, timeout=60)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["response"])


def service_metadata(stack: ServedStack, call_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = requests.get(f"{stack.base_url}/sessions/{call_id}/metadata", timeout=30).json()
    return dict(answer["metadata"])


def service_verdict(stack: ServedStack, call_id: str, function: str, token: str) -> dict[str, Any]:
    body = {"call_id": call_id, "function": function, "token": token}
    answer: dict[str, Any] = requests.post(f"{stack.base_url}/tokens/validate", json=body, timeout=30).json()
    return answer


def test_a_call_started_by_the_typescript_agent_continues_on_the_python_agent(
    node_stack: ServedStack, ts_agent: str, py_manager: RemoteSessionManager
) -> None:
    call_id = str(uuid.uuid4())
    minted = swml_tokens(ts_agent, call_id)  # minted by the TypeScript client, its incarnation in their nonce
    assert call_tool(ts_agent, "remember", minted["remember"], call_id, key="said_to_ts", value="hello") == "Noted"
    eventually(lambda: service_metadata(node_stack, call_id).get("said_to_ts") == "hello", "the TS write lands")
    for name, token in minted.items():
        assert service_verdict(node_stack, call_id, name, token) == {"valid": True}

    with served(python_agent(py_manager)) as (python, _):
        recalled = json.loads(call_tool(python, "recall", minted["recall"], call_id))
        assert recalled == {"said_to_ts": "hello"}
        assert call_tool(python, "get_weather", minted["get_weather"], call_id, city="Oslo") == "Sunny in Oslo"
        assert call_tool(python, "remember", minted["remember"], call_id, key="said_to_py", value="hej") == "Noted"
        assert py_manager.flush(WAIT_SECS)
        recalled = json.loads(call_tool(ts_agent, "recall", minted["recall"], call_id))
        assert recalled == {"said_to_ts": "hello", "said_to_py": "hej"}

        # Ended by the Python agent: the service refuses the call's tokens, and the TypeScript agent
        # learns of it from its background check of the calls it holds live tokens for.
        assert call_tool(python, "hang_up", minted["hang_up"], call_id) == "Goodbye"
        assert py_manager.flush(WAIT_SECS)
        assert service_verdict(node_stack, call_id, "get_time", minted["get_time"])["reason"] == "session_ended"
        assert REFUSED in call_tool(python, "get_time", minted["get_time"], call_id, city="Rome")
        eventually(
            lambda: REFUSED in call_tool(ts_agent, "get_time", minted["get_time"], call_id, city="Rome"),
            "the TypeScript agent refuses the ended call",
        )


def test_a_call_started_by_the_python_agent_continues_on_the_typescript_agent(
    node_stack: ServedStack, ts_agent: str, py_manager: RemoteSessionManager
) -> None:
    call_id = str(uuid.uuid4())
    with served(python_agent(py_manager)) as (python, _):
        minted = swml_tokens(python, call_id)  # minted by the Python client
        assert call_tool(python, "remember", minted["remember"], call_id, key="said_to_py", value="hej") == "Noted"
        assert py_manager.flush(WAIT_SECS)
        for name, token in minted.items():
            assert service_verdict(node_stack, call_id, name, token) == {"valid": True}

        assert call_tool(ts_agent, "get_weather", minted["get_weather"], call_id, city="Lima") == "Sunny in Lima"
        recalled = json.loads(call_tool(ts_agent, "recall", minted["recall"], call_id))
        assert recalled == {"said_to_py": "hej"}
        assert call_tool(ts_agent, "remember", minted["remember"], call_id, key="said_to_ts", value="hello") == "Noted"
        eventually(lambda: service_metadata(node_stack, call_id).get("said_to_ts") == "hello", "the TS write lands")
        assert json.loads(call_tool(python, "recall", minted["recall"], call_id)) == {
            "said_to_py": "hej",
            "said_to_ts": "hello",
        }

        # Ended by the TypeScript agent: refused there at once, then by the service and the Python agent.
        assert call_tool(ts_agent, "hang_up", minted["hang_up"], call_id) == "Goodbye"
        assert REFUSED in call_tool(ts_agent, "get_time", minted["get_time"], call_id, city="Rome")
        eventually(
            lambda: (
                service_verdict(node_stack, call_id, "get_time", minted["get_time"]).get("reason") == "session_ended"
            ),
            "the end reaches the service",
        )
        assert REFUSED in call_tool(python, "get_time", minted["get_time"], call_id, city="Rome")


def test_forged_and_foreign_tokens_run_nothing_on_either_agent(
    node_stack: ServedStack, ts_agent: str, py_manager: RemoteSessionManager
) -> None:
    call_id = str(uuid.uuid4())
    with served(python_agent(py_manager)) as (python, _):
        from_ts = swml_tokens(ts_agent, call_id)
        from_py = swml_tokens(python, call_id)
        other_call = swml_tokens(ts_agent, str(uuid.uuid4()))
        fake = tokens.mint(b"F" * 64, call_id, "get_weather", int(time.time()) + 60)  # signed with another key
        for base in (ts_agent, python):
            assert REFUSED in call_tool(base, "get_weather", fake, call_id, city="X")
            assert REFUSED in call_tool(base, "get_weather", other_call["get_weather"], call_id, city="X")
            assert REFUSED in call_tool(base, "get_weather", from_ts["get_time"], call_id, city="X")
            assert REFUSED in call_tool(base, "get_weather", from_py["get_time"], call_id, city="X")
