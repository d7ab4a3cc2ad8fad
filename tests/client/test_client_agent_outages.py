"""The client inside a real AgentBase, served by uvicorn, under concurrent calls, while the service fails.

The service is the real local stack behind a proxy that makes it slow (a round trip of 1 or 3 s),
down (connection refused) or hung (accepted, never answered), or a hostile one (answers of
64 MiB, `503` with `Retry-After: 30`, an answer trickled a byte at a time). Calls come as
SignalWire makes them (bench/agent_load.py): the SWML with the call's id, then tool calls with
the tokens from it.

What must hold, asserted on outcomes (no elapsed time is asserted):
- every render finishes: each call gets its SWML within a bound far above the client's own (a
  render that waited on the service past it would raise here), also while a hung service still
  holds the request;
- with the key, tool calls keep running whatever the service does;
- without it, a tool call the service could not vouch for fails closed: refused, never run.
"""

from __future__ import annotations

import contextlib
import secrets
import string
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from bench.agent_load import REFUSED, TOOLS, Agent, Load, make_agent, run_calls, served
from harness.fault_proxy import FaultProxy, fault_proxy
from harness.served import ServedStack
from tests.support.stub_service import Received, Reply, StubService, serving

CALLS = 4
TOOLS_PER_CALL = 2
BOUND_SECS = 60.0  # far above any render budget or call deadline: reaching it is the failure
MIB = 1 << 20


@pytest.fixture(autouse=True)
def _agent_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALWIRE_LOG_MODE", "off")
    for name in ("SIGNALWIRE_SWAIG_SECRET", "SIGNALWIRE_SIGNING_KEY", "SWML_PROXY_URL_BASE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def warm(stack: ServedStack) -> ServedStack:
    """The stack's workers started (a cold one imports its handler first), so a slow round trip is
    the only slowness the client meets."""
    with requests.Session() as http:
        http.post(f"{stack.base_url}/sessions", json={"call_id": "warm-up"}, timeout=60).raise_for_status()
        minted = http.post(f"{stack.base_url}/sessions/warm-up/tokens", json={"function": "f"}, timeout=60).json()
        body = {"call_id": "warm-up", "function": "f", "token": minted["token"]}
        http.post(f"{stack.base_url}/tokens/validate", json=body, timeout=60).raise_for_status()
    return stack


@contextlib.contextmanager
def behind_proxy(stack: ServedStack, **settings: Any) -> Iterator[FaultProxy]:
    with fault_proxy(int(stack.base_url.rsplit(":", 1)[1]), **settings) as proxy:
        yield proxy


@contextlib.contextmanager
def agent_on(mode: str, url: str, key: str) -> Iterator[tuple[Agent, str]]:
    agent = make_agent(mode, url, key)
    try:
        with served(agent.agent) as (base, _):
            yield agent, base
    finally:
        agent.close()


def calls(base: str, after_renders: Callable[[], None] | None = None) -> Load:
    return run_calls(base, calls=CALLS, tools_per_call=TOOLS_PER_CALL, after_renders=after_renders, timeout=BOUND_SECS)


def rendered(load: Load) -> None:
    """Every call got its SWML (the render finished, within the bound) naming every function."""
    for call in load.calls:
        assert call.render_status == 200, call
        assert set(call.tokens) == {*TOOLS, "post_prompt"}, call


def all_ran(load: Load, agent: Agent) -> None:
    rendered(load)
    assert all(token for call in load.calls for token in call.tokens.values())
    assert load.outcomes() == {"ran": CALLS * TOOLS_PER_CALL}
    assert sum(agent.ran.values()) == CALLS * TOOLS_PER_CALL


def none_ran(load: Load, agent: Agent) -> None:
    """Fail closed: each tool call refused (the SDK's answer to a missing or bad token) or failed
    (no verdict to be had: the SDK answers 500), and no tool's code ran."""
    rendered(load)
    assert set(load.outcomes()) <= {"refused", "failed"}, load.outcomes()
    assert sum(agent.ran.values()) == 0


def settled(request: Received) -> str:
    """The stub's outcome for a request, once the stub has noticed how it ended."""
    limit = time.monotonic() + 10
    while request.outcome == "pending" and time.monotonic() < limit:
        time.sleep(0.02)
    return request.outcome


def signing_key() -> str:
    """A key of the rotation's shape: 64 characters of A-Z a-z 0-9."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(64))


# -- slow ------------------------------------------------------------------------------------


def test_a_slow_service_keeps_every_mode_working(warm: ServedStack) -> None:
    """A 1 s round trip: slower renders and checks without the key, but every tool runs.

    Without the key the client learns the agent's function names on its first render, a request
    per function, which a 1 s round trip does not fit in the render's budget: that first call is
    made before the load.
    """
    with behind_proxy(warm, rtt=1.0) as proxy:
        for mode in ("key", "remote"):
            with agent_on(mode, proxy.url, warm.signing_key) as (agent, base):
                run_calls(base, calls=1, tools_per_call=0, timeout=BOUND_SECS)
                all_ran(calls(base), agent)


def test_a_very_slow_service_never_holds_a_render(warm: ServedStack) -> None:
    """A 3 s round trip: with the key nothing waits for it; without, renders end without tokens and
    their tool calls are refused."""
    with behind_proxy(warm, rtt=3.0) as proxy:
        with agent_on("key", proxy.url, warm.signing_key) as (agent, base):
            all_ran(calls(base), agent)
        with agent_on("remote", proxy.url, warm.signing_key) as (agent, base):
            none_ran(calls(base), agent)


# -- down, hung --------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["down", "hang"])
def test_with_the_key_tools_run_while_the_service_is_out(warm: ServedStack, failure: str) -> None:
    with behind_proxy(warm) as proxy:
        proxy.set(failure)
        with agent_on("key", proxy.url, warm.signing_key) as (agent, base):
            all_ran(calls(base), agent)


@pytest.mark.parametrize("failure", ["down", "hang"])
def test_without_the_key_tool_calls_fail_closed_while_the_service_is_out(warm: ServedStack, failure: str) -> None:
    with behind_proxy(warm) as proxy:
        proxy.set(failure)
        with agent_on("remote", proxy.url, warm.signing_key) as (agent, base):
            none_ran(calls(base), agent)
        if failure == "hang":
            assert proxy.accepted > 0  # asked, never answered: the renders finished without it


@pytest.mark.parametrize("failure", ["down", "hang"])
def test_a_service_lost_after_the_renders(warm: ServedStack, failure: str) -> None:
    """The SWML came with tokens; then the service goes. With the key every tool still runs; without,
    no check can be had and nothing runs."""
    with behind_proxy(warm) as proxy:
        with agent_on("key", proxy.url, warm.signing_key) as (agent, base):
            all_ran(calls(base, after_renders=lambda: proxy.set(failure)), agent)
        proxy.set("pass")
        with agent_on("remote", proxy.url, warm.signing_key) as (agent, base):
            load = calls(base, after_renders=lambda: proxy.set(failure))
            assert all(token for call in load.calls for token in call.tokens.values())  # rendered while up
            none_ran(load, agent)


# -- hostile -----------------------------------------------------------------------------------

HOSTILE: dict[str, Callable[[Any], Reply]] = {
    "huge": lambda _: Reply(200, {"valid": True, "call_id": "x", "tokens": {}}, size=64 * MIB),
    "retry_after": lambda _: Reply(503, {"error": "service_unavailable", "message": "m"}, {"Retry-After": "30"}),
    "trickle": lambda _: Reply(200, {"valid": True, "call_id": "x", "pad": "p" * 400}, trickle=0.1),
    "held": lambda _: Reply(200, {"valid": True}, hold=60),
}


@pytest.fixture(params=sorted(HOSTILE))
def hostile(request: pytest.FixtureRequest) -> Iterator[StubService]:
    with serving(HOSTILE[request.param]) as stub:
        yield stub


def test_with_the_key_a_hostile_service_changes_nothing(hostile: StubService) -> None:
    key = signing_key()
    with agent_on("key", hostile.url, key) as (agent, base):
        all_ran(calls(base), agent)


def test_without_the_key_a_service_that_says_retry_later_gets_no_tool_run() -> None:
    """The other hostile answers, without the key, are the next test's (which also sees them cut off)."""
    with serving(HOSTILE["retry_after"]) as hostile:
        with agent_on("remote", hostile.url, signing_key()) as (agent, base):
            none_ran(calls(base), agent)
        assert hostile.received  # it was asked; what it answered was not believed


@pytest.mark.parametrize("kind", ["huge", "trickle", "held"])
def test_renders_end_while_a_hostile_answer_is_still_coming(kind: str) -> None:
    """No render waited for the end of 64 MiB, of a trickle or of a hold: the client hung up on each."""
    with serving(HOSTILE[kind]) as hostile:
        with agent_on("remote", hostile.url, signing_key()) as (agent, base):
            none_ran(calls(base), agent)
        assert hostile.received
        assert {settled(request) for request in hostile.received} == {"cut_off"}


def test_the_sdks_refusal_is_what_the_harness_reads() -> None:
    """The load's 'refused' outcome is the SDK's own answer to a bad token (so none_ran can fail)."""
    agent = make_agent("sdk", key=signing_key())
    with served(agent.agent) as (base, _):
        good = calls(base)
    all_ran(good, agent)
    with served(make_agent("sdk", key=signing_key()).agent) as (other, _):  # another secret: every token is bad
        answer = requests.post(
            f"{other}/agent/swaig",
            json={"function": TOOLS[0], "argument": {"parsed": [{}]}, "call_id": "c"},
            params={"__token": next(iter(good.calls)).tokens[TOOLS[0]]},
            auth=("signalwire", "load-test-password"),
            timeout=BOUND_SECS,
        )
    assert REFUSED in answer.json()["response"]
