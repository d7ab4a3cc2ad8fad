"""What a real signalwire-sdk AgentBase costs the service per call, with the one-line swap and nothing else.

Rendering its SWML (what the SDK does for every incoming call) starts a session and mints a token
per tool and for the post-prompt. Without the signing key, after the agent's first render, that
is one request, for 1 tool as for 50, whether the call is named (SignalWire's requests) or not.
With the key, the render sends nothing: the tokens are minted in-process and the session's start
follows in the background, one request per call; a SWAIG function call costs nothing, refused
ones included (AgentBase asks debug_token about every token it checks).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from session_client import RemoteSessionManager, SessionServiceError
from session_client.manager import START_MARGIN_SECS
from session_rules import tokens
from signalwire import AgentBase
from signalwire.core.function_result import FunctionResult
from signalwire.core.security.session_manager import SessionManager

from harness.served import ServedStack
from tests.support.recording import RecordingSession, Sent


@pytest.fixture(autouse=True)
def _agent_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALWIRE_LOG_MODE", "off")
    for name in ("SIGNALWIRE_SWAIG_SECRET", "SIGNALWIRE_SIGNING_KEY", "SWML_PROXY_URL_BASE"):
        monkeypatch.delenv(name, raising=False)


def agent_with(tools: int) -> AgentBase:
    agent = AgentBase(name=f"tools{tools}", route=f"/tools{tools}", suppress_logs=True)
    agent.prompt_add_section("Role", "You help.")
    agent.set_post_prompt("Summarize the call.")
    for i in range(tools):
        agent.define_tool(f"tool_{i}", f"Tool {i}", {}, lambda args, raw: FunctionResult("done"))
    return agent


def tokens_in(swml: str) -> dict[str, str]:
    """Every {function: token} a rendered SWML document carries."""
    ai = next(verb["ai"] for verb in json.loads(swml)["sections"]["main"] if "ai" in verb)
    found = {"post_prompt": parse_qs(urlsplit(ai["post_prompt_url"]).query)["__token"][0]}
    for function in ai["SWAIG"]["functions"]:
        query = parse_qs(urlsplit(function.get("web_hook_url", "")).query)
        if "__token" in query:  # an insecure function has no token (nor a URL of its own)
            found[function["function"]] = query["__token"][0]
    return found


def answered(sent: RecordingSession) -> list[Sent]:
    """What the manager sent: each request must have succeeded (no 404 on the way)."""
    assert all(request.status in (200, 201) for request in sent.sent), sent.sent
    return sent.sent


@pytest.mark.parametrize("tools", [1, 50])
@pytest.mark.parametrize("signalwire", [False, True], ids=["no-call-id", "call-id"])
def test_without_the_key_a_render_costs_one_request_after_the_first(
    stack: ServedStack, connect: Callable[..., RemoteSessionManager], tools: int, signalwire: bool
) -> None:
    """With SignalWire's call id too: the first mint for a call starts its session, never a 404."""
    agent = agent_with(tools)
    recorded = RecordingSession()
    manager = connect(stack.base_url, session=recorded)
    agent._session_manager = manager  # type: ignore[assignment]  # a drop-in, not a subclass
    agent._render_swml(f"call-{uuid.uuid4().hex}" if signalwire else None)  # learns the agent's function names
    sent = answered(recorded)
    asked = [len(request.body.get("functions", [])) for request in sent]
    # The session (unless a first mint starts it), then each tool's and the post-prompt's token.
    assert len(sent) == (0 if signalwire else 1) + tools + 1
    assert sum(asked) == tools + 1  # each minted once: a mint asks only for what the call lacks
    sdk = SessionManager(secret_key=stack.signing_key)
    for _ in range(3):
        sent.clear()
        named = f"call-{uuid.uuid4().hex}" if signalwire else None
        swml = agent._render_swml(named)
        assert [request.request for request in answered(recorded)] == ["POST /sessions"]
        body = sent[0].body
        assert body["token_expiry_secs"] == manager.token_expiry_secs and len(body["functions"]) == tools + 1
        minted = tokens_in(swml)
        assert set(minted) == {"post_prompt", *(f"tool_{i}" for i in range(tools))}
        call_ids = {tokens.parse(token).call_id for token in minted.values()}  # type: ignore[union-attr]
        assert len(call_ids) == 1  # one session, the one the render started
        call_id = call_ids.pop()
        assert named in (None, call_id)
        for function, token in minted.items():
            assert sdk.validate_tool_token(function, token, call_id), function


@pytest.mark.parametrize("tools", [1, 50])
def test_without_the_key_install_makes_the_first_render_one_request(
    stack: ServedStack, connect: Callable[..., RemoteSessionManager], tools: int
) -> None:
    """install() reads the agent's secure functions: a SignalWire call's first render asks for all at once."""
    agent = agent_with(tools)
    agent.define_tool("open_tool", "Needs no token", {}, lambda args, raw: FunctionResult("done"), secure=False)
    recorded = RecordingSession()
    connect(stack.base_url, session=recorded).install(agent)
    agent.define_tool("late_tool", "Defined after install()", {}, lambda args, raw: FunctionResult("done"))
    call_id = f"call-{uuid.uuid4().hex}"
    minted = tokens_in(agent._render_swml(call_id))
    sent = answered(recorded)
    assert [request.request for request in sent] == ["POST /sessions"]
    wanted = {"post_prompt", "late_tool", *(f"tool_{i}" for i in range(tools))}
    assert set(sent[0].body["functions"]) == wanted  # not the insecure tool: the SDK mints it no token
    assert set(minted) == wanted
    sdk = SessionManager(secret_key=stack.signing_key)
    assert all(sdk.validate_tool_token(function, token, call_id) for function, token in minted.items())


@pytest.mark.parametrize("tools", [1, 50])
@pytest.mark.parametrize("signalwire", [False, True], ids=["no-call-id", "call-id"])
def test_with_the_key_a_render_sends_nothing_and_its_start_follows_in_the_background(
    stack: ServedStack, connect: Callable[..., RemoteSessionManager], tools: int, signalwire: bool
) -> None:
    agent = agent_with(tools)
    recorded = RecordingSession()
    manager = connect(stack.base_url, secret_key=stack.signing_key, session=recorded)
    agent._session_manager = manager  # type: ignore[assignment]  # a drop-in, not a subclass
    sent = recorded.sent
    sdk = SessionManager(secret_key=stack.signing_key)
    for _ in range(3):
        named = f"call-{uuid.uuid4().hex}" if signalwire else None
        swml = agent._render_swml(named)
        assert recorded.on(threading.current_thread().name) == []  # none from the render
        minted = tokens_in(swml)
        assert set(minted) == {"post_prompt", *(f"tool_{i}" for i in range(tools))}
        fields = [tokens.parse(token) for token in minted.values()]
        call_id = fields[0].call_id  # type: ignore[union-attr]
        assert named in (None, call_id) and {f.call_id for f in fields} == {call_id}  # type: ignore[union-attr]
        incarnations = {f.nonce[:8] for f in fields}  # type: ignore[union-attr]
        assert len(incarnations) == 1  # the call's, picked by this manager
        for function, token in minted.items():
            assert sdk.validate_tool_token(function, token, call_id), function
        assert manager.flush()
        starts = [r.body for r in answered(recorded) if r.request == "POST /sessions" and r.body["call_id"] == call_id]
        assert starts == [
            {
                "call_id": call_id,
                "incarnation": incarnations.pop(),
                "token_expiry_secs": manager.token_expiry_secs + START_MARGIN_SECS,  # covers the render's tokens
                "restart": named is None,  # an explicit create_session starts afresh; a named call stays ended
            }
        ]
        sent.clear()
    assert manager.outbox_stats.sent == 3 and manager.outbox_stats.failed == 0


def test_function_calls_with_the_key_cost_nothing_even_refused(
    stack: ServedStack, connect: Callable[..., RemoteSessionManager]
) -> None:
    agent = agent_with(2)
    recorded = RecordingSession()
    manager = connect(stack.base_url, secret_key=stack.signing_key, session=recorded)
    agent._session_manager = manager  # type: ignore[assignment]  # a drop-in, not a subclass
    call_id = manager.create_session()
    good = manager.create_tool_token("tool_0", call_id)
    assert manager.flush()  # the session's start, sent in the background
    sent = recorded.sent
    sent.clear()
    assert agent.validate_tool_token("tool_0", good, call_id) is True
    for junk in ("", "x", "A" * 5000, good + "x", SessionManager(secret_key="other").generate_token("tool_0", call_id)):
        assert agent.validate_tool_token("tool_0", junk, call_id) is False
    assert agent.validate_tool_token("tool_1", good, call_id) is False
    assert sent == []


def test_the_held_tokens_answer_exactly_what_was_asked(
    stack: ServedStack, connect: Callable[..., RemoteSessionManager]
) -> None:
    """A held token is the one minted for that call and function; another call's is never handed out."""
    recorded = RecordingSession()
    manager = connect(stack.base_url, session=recorded)
    first = manager.create_session()
    manager.create_tool_token("tool_0", first)  # learned
    second = manager.create_session()
    sent = recorded.sent
    sent.clear()
    a, b = manager.create_tool_token("tool_0", first), manager.create_tool_token("tool_0", second)
    assert sent == []
    sdk = SessionManager(secret_key=stack.signing_key)
    assert sdk.validate_tool_token("tool_0", a, first) and not sdk.validate_tool_token("tool_0", a, second)
    assert sdk.validate_tool_token("tool_0", b, second) and not sdk.validate_tool_token("tool_0", b, first)
    assert manager.end_session(second)
    with pytest.raises(SessionServiceError) as ended:  # held tokens are dropped with the session
        manager.create_tool_token("tool_0", second)
    assert ended.value.code == "session_ended"
