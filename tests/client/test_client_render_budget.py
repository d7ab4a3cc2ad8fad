"""Without the key, a render waits on the service once at most: its budget, whatever its number of tools.

A real AgentBase renders with 3 tools and a post-prompt; a stub service that never answers in time
(or nobody listening) stands for an outage. What is counted is the requests that reach the
service and the deadlines they were given, never elapsed time.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest
from session_client import RemoteSessionManager, SessionServiceError
from session_client.budget import GAP_SECS
from signalwire import AgentBase
from signalwire.core.function_result import FunctionResult

from harness.ports import free_port
from tests.support.recording import RecordingTransport
from tests.support.stub_service import StubService, serving

BUDGET = 0.3


@pytest.fixture(autouse=True)
def _agent_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALWIRE_LOG_MODE", "off")
    for name in ("SIGNALWIRE_SWAIG_SECRET", "SIGNALWIRE_SIGNING_KEY", "SWML_PROXY_URL_BASE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def hung() -> Iterator[StubService]:
    """A service that answers each request long after any render's budget."""
    with serving(lambda _: (201, {"call_id": "x", "expires_at": 1, "tokens": {}, "tokens_expire_at": 1})) as stub:
        stub.delay = 3 * BUDGET
        yield stub


def agent() -> AgentBase:
    made = AgentBase(name="budget", route="/budget", suppress_logs=True)
    made.set_post_prompt("Summarize.")
    for name in ("a", "b", "c"):
        made.define_tool(name, name, {}, lambda args, raw: FunctionResult("ok"))
    return made


def tokens_in(swml: str) -> list[str]:
    ai = next(verb["ai"] for verb in json.loads(swml)["sections"]["main"] if "ai" in verb)
    urls = [f.get("web_hook_url", "") for f in ai["SWAIG"]["functions"]] + [ai.get("post_prompt_url", "")]
    return [url for url in urls if "__token=" in url]


@pytest.mark.parametrize("named", [True, False], ids=["signalwire-call-id", "no-call-id"])
def test_a_hung_service_costs_a_render_one_request_within_its_budget(hung: StubService, named: bool) -> None:
    served = agent()
    transport = RecordingTransport(hung.url, retries=0)
    RemoteSessionManager(hung.url, render_budget_secs=BUDGET, transport=transport).install(served)
    asked = transport.left
    for _ in range(2):  # and the next render gets a budget of its own
        hung.received.clear()
        if named:
            swml = served._render_swml(str(uuid.uuid4()))
            assert tokens_in(swml) == []  # the SDK logs each failed mint and leaves the token out
        else:
            with pytest.raises(SessionServiceError) as failed:  # the SDK's render lets create_session's error out
                served._render_swml()
            assert failed.value.code == "deadline_exceeded"  # the budget's end cut the held request
        time.sleep(0.1)  # the stub records a request as it arrives; give a second one the chance to
        assert len(hung.received) == 1  # the first ask waited, every later one failed at once
        time.sleep(GAP_SECS + 0.05)  # the render is over: a pause longer than the one between a render's asks
    assert len(asked) == 2 and all(a is not None and 0 < a <= BUDGET for a in asked)


def test_a_failure_is_repeated_at_once_only_within_the_render() -> None:
    """Nobody listening: each render fails fast, and a render after it asks again."""
    url = f"http://127.0.0.1:{free_port()}"
    transport = RecordingTransport(url, retries=0)
    manager = RemoteSessionManager(url, render_budget_secs=BUDGET, transport=transport)
    asked = transport.left
    for attempt in range(2):
        with pytest.raises(SessionServiceError) as first:
            manager.create_tool_token("a", "call-1")
        assert first.value.code == "unreachable"
        for name in ("b", "c", "post_prompt"):
            with pytest.raises(SessionServiceError) as again:
                manager.create_tool_token(name, "call-1")
            assert again.value.code == "unreachable" and "not asked again" in again.value.message
        assert len(asked) == attempt + 1
        time.sleep(GAP_SECS + 0.05)  # the next render comes after a pause
    with pytest.raises(SessionServiceError):
        manager.create_tool_token("a", "call-2")  # another call's render is its own
    assert len(asked) == 3
