"""What a real signalwire-sdk AgentBase costs the service per call, with the one-line swap and nothing else.

Rendering its SWML (what the SDK does for every incoming call) starts a session and mints a token
per tool and for the post-prompt: after the agent's first render, that is one request, for 1 tool
as for 50, with the signing key held or not. With the key, a SWAIG function call costs nothing,
refused ones included (AgentBase asks debug_token about every token it checks).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from session_client import RemoteSessionManager, SessionServiceError
from session_rules import tokens
from signalwire import AgentBase
from signalwire.core.function_result import FunctionResult
from signalwire.core.security.session_manager import SessionManager

from local.stack import Stack


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


def counted(manager: RemoteSessionManager) -> list[str]:
    """The requests the manager really sends, as 'METHOD path'."""
    sent: list[str] = []
    manager._http.hooks["response"].append(
        lambda response, **_: sent.append(f"{response.request.method} {urlsplit(response.url).path}")
    )
    return sent


def tokens_in(swml: str) -> dict[str, str]:
    """Every {function: token} a rendered SWML document carries."""
    ai = next(verb["ai"] for verb in json.loads(swml)["sections"]["main"] if "ai" in verb)
    found = {"post_prompt": parse_qs(urlsplit(ai["post_prompt_url"]).query)["__token"][0]}
    for function in ai["SWAIG"]["functions"]:
        found[function["function"]] = parse_qs(urlsplit(function["web_hook_url"]).query)["__token"][0]
    return found


@pytest.mark.parametrize("tools", [1, 50])
@pytest.mark.parametrize("keyed", [False, True], ids=["remote", "with-key"])
def test_a_render_costs_one_request_after_the_first(
    stack: Stack, connect: Callable[..., RemoteSessionManager], tools: int, keyed: bool
) -> None:
    agent = agent_with(tools)
    manager = connect(stack.base_url, **({"secret_key": stack.signing_key} if keyed else {}))
    agent._session_manager = manager
    sent = counted(manager)
    asked: list[int] = []  # how many tokens each request asked for
    manager._http.hooks["response"].append(
        lambda response, **_: asked.append(len(json.loads(response.request.body or b"{}").get("functions", [])))
    )
    agent._render_swml()  # learns the agent's function names
    assert len(sent) == 1 + tools + 1  # the session, then each tool's and the post-prompt's token
    assert sum(asked) == tools + 1  # each minted once: a mint asks only for what the call lacks
    sdk = SessionManager(secret_key=stack.signing_key)
    for _ in range(3):
        sent.clear()
        swml = agent._render_swml()
        assert sent == ["POST /sessions"]
        minted = tokens_in(swml)
        assert set(minted) == {"post_prompt", *(f"tool_{i}" for i in range(tools))}
        call_ids = {tokens.parse(token).call_id for token in minted.values()}  # type: ignore[union-attr]
        assert len(call_ids) == 1  # one session, the one the render started
        call_id = call_ids.pop()
        for function, token in minted.items():
            assert sdk.validate_tool_token(function, token, call_id), function


def test_function_calls_with_the_key_cost_nothing_even_refused(
    stack: Stack, connect: Callable[..., RemoteSessionManager]
) -> None:
    agent = agent_with(2)
    manager = connect(stack.base_url, secret_key=stack.signing_key)
    agent._session_manager = manager
    call_id = manager.create_session()
    good = manager.create_tool_token("tool_0", call_id)
    sent = counted(manager)
    assert agent.validate_tool_token("tool_0", good, call_id) is True
    for junk in ("", "x", "A" * 5000, good + "x", SessionManager(secret_key="other").generate_token("tool_0", call_id)):
        assert agent.validate_tool_token("tool_0", junk, call_id) is False
    assert agent.validate_tool_token("tool_1", good, call_id) is False
    assert sent == []


def test_the_held_tokens_answer_exactly_what_was_asked(
    stack: Stack, connect: Callable[..., RemoteSessionManager]
) -> None:
    """A held token is the one minted for that call and function; another call's is never handed out."""
    manager = connect(stack.base_url)
    first = manager.create_session()
    manager.create_tool_token("tool_0", first)  # learned
    second = manager.create_session()
    sent = counted(manager)
    a, b = manager.create_tool_token("tool_0", first), manager.create_tool_token("tool_0", second)
    assert sent == []
    sdk = SessionManager(secret_key=stack.signing_key)
    assert sdk.validate_tool_token("tool_0", a, first) and not sdk.validate_tool_token("tool_0", a, second)
    assert sdk.validate_tool_token("tool_0", b, second) and not sdk.validate_tool_token("tool_0", b, first)
    assert manager.end_session(second)
    with pytest.raises(SessionServiceError) as ended:  # held tokens are dropped with the session
        manager.create_tool_token("tool_0", second)
    assert ended.value.code == "session_ended"
