"""The agent's event loop is not ours to block: a real AgentBase under uvicorn, SignalWire's requests.

AgentBase renders SWML and, unless told otherwise, checks SWAIG tokens on its event loop, calling
its session manager synchronously there. Each test serves a real agent (three tools, a
post-prompt), sends it concurrent calls as SignalWire does (`{"call": {"call_id": ...}}`, then the
tools' webhooks with the rendered tokens), and records the thread of every request the manager
sends to the local stack.

- With the key and install(): no request at all from the event loop; every tool call with its
  token runs, forged and other calls' tokens do not; the session's start and the tool's metadata
  write reach the service in the background, and another instance reads them. With
  revocation_check too, the tokens that pass in-process are checked by the service, from a worker
  thread.
- Without the key and install(): a render for a call SignalWire names is one request (no 404);
  every token check runs in a worker thread. Plain assignment leaves checks on the loop (the
  contrast that shows what install() changes).
- By ARN, before the key was read: renders leave the tokens out at once, tool calls fail closed.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from botocore.exceptions import ClientError
from session_client import RemoteSessionManager
from session_client.keys import SecretKeys
from signalwire import AgentBase
from signalwire.core.function_result import FunctionResult
from signalwire.core.security.session_manager import SessionManager

from harness.ports import free_port
from harness.served import ServedStack
from tests.support.agent_server import AUTH, REFUSED, call_function, render, served
from tests.support.recording import RecordingSession

CALLS = 8
TOOLS = ("get_weather", "get_time", "book_table")


@pytest.fixture(autouse=True)
def _agent_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALWIRE_LOG_MODE", "off")
    for name in ("SIGNALWIRE_SWAIG_SECRET", "SIGNALWIRE_SIGNING_KEY", "SWML_PROXY_URL_BASE"):
        monkeypatch.delenv(name, raising=False)


def concierge() -> AgentBase:
    """Three secure tools and a post-prompt; get_weather stores the city in the call's metadata."""
    agent = AgentBase(name="concierge", route="/concierge", basic_auth=AUTH, suppress_logs=True)
    agent.prompt_add_section("Role", "You help.")
    agent.set_post_prompt("Summarize the call.")

    def get_weather(args: dict[str, Any], raw: dict[str, Any]) -> FunctionResult:
        agent._session_manager.set_session_metadata(raw["call_id"], "city", args["city"])  # user code, in a thread
        return FunctionResult(f"Sunny in {args['city']}")

    agent.define_tool("get_weather", "The weather", {"city": {"type": "string"}}, get_weather)
    for name in TOOLS[1:]:
        agent.define_tool(name, name, {}, lambda args, raw, name=name: FunctionResult(f"{name} done"))
    return agent


def serve_calls(url: str, call_ids: list[str]) -> dict[str, dict[str, tuple[str, str]]]:
    """Every call's SWML, fetched concurrently."""
    with ThreadPoolExecutor(len(call_ids)) as pool:
        return dict(zip(call_ids, pool.map(lambda c: render(url, "/concierge", c), call_ids), strict=True))


def use_tools(url: str, rendered: dict[str, dict[str, tuple[str, str]]]) -> None:
    """Every call uses its tools concurrently, with its own tokens; none passes with another's or a forged one."""

    def one_call(call_id: str) -> None:
        hooks = rendered[call_id]
        path, token = hooks["get_weather"]
        assert call_function(url, path, token, call_id, "get_weather", {"city": call_id}) == f"Sunny in {call_id}"
        path, token = hooks["get_time"]
        assert call_function(url, path, token, call_id, "get_time", {}) == "get_time done"
        other = next(c for c in rendered if c != call_id)
        assert REFUSED in call_function(url, path, rendered[other]["get_time"][1], call_id, "get_time", {})
        assert REFUSED in call_function(url, path, hooks["book_table"][1], call_id, "get_time", {})
        forged = SessionManager(secret_key="not-the-key").generate_token("get_time", call_id)
        assert REFUSED in call_function(url, path, forged, call_id, "get_time", {})

    with ThreadPoolExecutor(len(rendered)) as pool:
        list(pool.map(one_call, rendered))


def new_calls() -> list[str]:
    return [str(uuid.uuid4()) for _ in range(CALLS)]  # SignalWire's call ids are UUIDs


@pytest.mark.parametrize("revocation_check", [False, True], ids=["key", "key-and-revocation-check"])
def test_with_the_key_nothing_waits_on_the_loop_and_the_service_still_hears_of_every_call(
    stack: ServedStack,
    connect: Callable[..., RemoteSessionManager],
    client: RemoteSessionManager,
    revocation_check: bool,
) -> None:
    agent = concierge()
    sent = RecordingSession()
    manager = connect(stack.base_url, secret_key=stack.signing_key, revocation_check=revocation_check, session=sent)
    manager.install(agent)
    # Checks in-process stay on the loop; those that then ask the service go to a worker thread.
    assert agent._swaig_configures_per_call() is revocation_check
    with served(agent) as (url, loop):
        calls = new_calls()
        rendered = serve_calls(url, calls)
        for hooks in rendered.values():
            assert set(hooks) == {*TOOLS, "post_prompt"} and all(token for _, token in hooks.values())
        use_tools(url, rendered)
        assert manager.flush()
    assert sent.on(loop) == []  # not one request from the event loop
    writes = ["POST /sessions"] * CALLS + [f"PATCH /sessions/{c}/metadata" for c in calls]
    checks = ["POST /tokens/validate"] * (2 * CALLS if revocation_check else 0)  # of the tokens that passed here
    assert sorted(sent.off(loop)) == sorted(writes + checks)  # each call's start and its tool's write
    for call_id in calls:  # another instance reads what the calls wrote, and their tokens validate there
        assert client.get_session_metadata(call_id) == {"city": call_id}
        assert client.validate_tool_token("book_table", rendered[call_id]["book_table"][1], call_id)
    assert manager.outbox_stats.failed == manager.outbox_stats.dropped == 0


@pytest.mark.parametrize("installed", [True, False], ids=["install", "plain-assignment"])
def test_without_the_key_a_render_is_one_request_and_install_moves_every_check_off_the_loop(
    stack: ServedStack, connect: Callable[..., RemoteSessionManager], installed: bool
) -> None:
    agent = concierge()
    sent = RecordingSession()
    manager = connect(stack.base_url, session=sent)
    if installed:
        manager.install(agent)
    else:
        agent._session_manager = manager  # type: ignore[assignment]  # a drop-in, not a subclass
    with served(agent) as (url, loop):
        render(url, "/concierge", str(uuid.uuid4()))  # the agent's first render: the manager learns its tools
        sent.sent.clear()
        calls = new_calls()
        rendered = serve_calls(url, calls)
        assert sent.on(loop) == ["POST /sessions"] * CALLS  # one per call, SignalWire naming it: no 404
        assert all(request.status == 201 for request in sent.sent)
        sent.sent.clear()
        use_tools(url, rendered)
    on_loop, off_loop = sent.on(loop), sent.off(loop)
    # Each call's five checks (two good tokens, three refused) ask the service.
    assert (on_loop + off_loop).count("POST /tokens/validate") == 5 * CALLS
    writes = sorted(r for r in off_loop if r.startswith("PATCH"))  # the tool's own, in the SDK's worker thread
    assert writes == sorted(f"PATCH /sessions/{c}/metadata" for c in calls)
    if installed:
        assert on_loop == []  # every check ran in a worker thread
    else:
        assert on_loop == ["POST /tokens/validate"] * 5 * CALLS  # each one stalled the loop


def test_install_takes_the_agents_token_lifetime_unless_one_was_given(stack: ServedStack) -> None:
    """AgentBase hands its token_expiry_secs (3600 by default) to its manager; install() carries it over."""
    from session_rules import tokens

    for lifetime, given, expected in ((None, None, 3600), (7200, None, 7200), (7200, 600, 600)):
        own: dict[str, Any] = {"token_expiry_secs": lifetime} if lifetime else {}
        agent = AgentBase(name="a", route="/a", suppress_logs=True, **own)
        agent.define_tool("f", "f", {}, lambda args, raw: FunctionResult("ok"))
        options: dict[str, Any] = {"token_expiry_secs": given} if given else {}
        manager = RemoteSessionManager(stack.base_url, secret_key=stack.signing_key, **options).install(agent)
        assert agent._session_manager is manager and manager.token_expiry_secs == expected
        before = int(time.time())
        swml = json.loads(agent._render_swml(str(uuid.uuid4())))
        ai = next(verb["ai"] for verb in swml["sections"]["main"] if "ai" in verb)
        token = parse_qs(urlsplit(ai["SWAIG"]["functions"][0]["web_hook_url"]).query)["__token"][0]
        assert before + expected <= int(tokens.parse(token).expiry) <= int(time.time()) + expected  # type: ignore[union-attr]
        manager.close()
    too_long = AgentBase(name="b", route="/b", suppress_logs=True, token_expiry_secs=48 * 3600)
    with pytest.raises(ValueError, match="exceeds max_token_lifetime_secs"):
        RemoteSessionManager(stack.base_url).install(too_long)


@pytest.mark.parametrize(
    ("options", "in_a_thread"),
    [
        ({}, True),  # every check asks the service
        ({"secret_key": "k" * 64}, False),  # in-process, never a wait
        ({"secret_key": "k" * 64, "revocation_check": True}, True),  # then the service's verdict
        ({"secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:k"}, True),  # may re-read the key
    ],
)
def test_install_moves_the_checks_off_the_loop_only_when_they_may_wait(
    options: dict[str, Any], in_a_thread: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # install() starts reading the key
    agent = AgentBase(name="a", route="/a", suppress_logs=True)
    assert agent._swaig_configures_per_call() is False  # the SDK's own answer without per-call configuration
    manager = RemoteSessionManager("http://127.0.0.1:9", **options)
    manager.install(agent)
    assert manager.checks_may_wait is in_a_thread
    assert agent._swaig_configures_per_call() is in_a_thread
    manager.close()  # no more reads of the key in the background: the endpoint above is the test's
    assert AgentBase(name="c", route="/c", suppress_logs=True)._swaig_configures_per_call() is False  # this agent only


class HangingSecrets:
    """Secrets Manager accepting reads and answering none until `go` is set."""

    exceptions = type("Exceptions", (), {"ResourceNotFoundException": LookupError})

    def __init__(self) -> None:
        self.go = threading.Event()

    def get_secret_value(self, SecretId: str, VersionStage: str) -> dict[str, Any]:
        self.go.wait(60)
        raise ClientError({"Error": {"Code": "InternalServiceError", "Message": "down"}}, "GetSecretValue")


def test_until_the_key_is_read_renders_leave_the_tokens_out_and_tool_calls_are_refused() -> None:
    """secret_arn, and Secrets Manager hangs when the agent starts: its renders do not wait for it
    (the tokens are left out), and a tool call with a token the key would accept fails closed: the
    function does not run."""
    ran: list[str] = []
    agent = AgentBase(name="keyless", route="/keyless", basic_auth=AUTH, suppress_logs=True)

    def get_time(args: dict[str, Any], raw: dict[str, Any]) -> FunctionResult:
        ran.append(raw["call_id"])
        return FunctionResult("ok")

    agent.define_tool("get_time", "The time", {}, get_time)
    secrets = HangingSecrets()
    keys = SecretKeys("arn:aws:secretsmanager:us-east-1:123456789012:secret:k", client=secrets)
    manager = RemoteSessionManager(f"http://127.0.0.1:{free_port()}", keys=keys)
    manager.install(agent)
    call_id = str(uuid.uuid4())
    token = SessionManager(secret_key="k" * 64).generate_token("get_time", call_id)
    try:
        with served(agent) as (url, _):
            assert render(url, "/keyless", call_id).get("get_time", ("", ""))[1] == ""  # minting failed at once
            body: dict[str, Any] = {
                "function": "get_time",
                "argument": {"parsed": [{}], "raw": "{}"},
                "call_id": call_id,
            }
            answer = requests.post(f"{url}/keyless/swaig", params={"__token": token}, json=body, auth=AUTH, timeout=120)
            assert answer.status_code == 500, answer.text  # the SDK's answer when a check raises
        assert ran == []
        assert manager.outbox_stats.queued == 0  # no start for tokens never minted
    finally:
        keys.close()
        secrets.go.set()
        manager.close()
