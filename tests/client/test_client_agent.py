"""A real signalwire-sdk AgentBase, served over HTTP by uvicorn, using the service two ways.

(a) its session manager replaced by the client (the one-line change): the SWML it renders
    carries service-minted tokens, and its /swaig endpoint checks tokens through the service;
(b) no client, started with `swaig_secret` = the service's signing key: it accepts tokens the
    service minted and refuses forged or other-call ones, with no code change at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from session_client import RemoteSessionManager
from signalwire import AgentBase
from signalwire.core.function_result import FunctionResult
from signalwire.core.security.session_manager import SessionManager

from harness.served import ServedStack
from tests.support import agent_server
from tests.support.agent_server import AUTH, REFUSED, render, served


@pytest.fixture(autouse=True)
def _agent_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALWIRE_LOG_MODE", "off")
    for name in ("SIGNALWIRE_SWAIG_SECRET", "SIGNALWIRE_SIGNING_KEY", "SWML_PROXY_URL_BASE"):
        monkeypatch.delenv(name, raising=False)


def weather_agent(**options: Any) -> AgentBase:
    agent = AgentBase(name="weather", route="/weather", basic_auth=AUTH, suppress_logs=True, **options)
    agent.prompt_add_section("Role", "You report the weather.")
    agent.define_tool(
        "get_weather",
        "The weather in a city",
        {"city": {"type": "string"}},
        lambda args, raw: FunctionResult(f"Sunny in {args['city']}"),
    )  # secure by default: every call needs this call's token for this function
    return agent


def render_token(base: str, call_id: str) -> tuple[str, str]:
    """POST the call to the agent as SignalWire does; get_weather's webhook path and token from the SWML."""
    return render(base, "/weather", call_id)["get_weather"]


def call_function(base: str, path: str, token: str, call_id: str, city: str = "Paris") -> str:
    return agent_server.call_function(base, path, token, call_id, "get_weather", {"city": city})


def test_agent_using_the_client(
    stack: ServedStack, client: RemoteSessionManager, connect: Callable[..., RemoteSessionManager], call_id: str
) -> None:
    agent = weather_agent()
    # The one line an agent changes (`connect`'s options only allow for the local stack's cold workers).
    connect(stack.base_url).install(agent)
    replica = weather_agent()  # a second instance: the SDK alone would not know the first's secret
    replica._session_manager = connect(stack.base_url)  # type: ignore[assignment]  # plain assignment works too
    forged = SessionManager(secret_key="not-the-key").generate_token("get_weather", call_id)

    with served(agent) as (base, _), served(replica) as (other, _):
        path, token = render_token(base, call_id)
        # The SWML's token came from the service: the session is in its table and it validates there.
        item = stack.client("dynamodb").get_item(TableName=stack.table_name, Key={"call_id": {"S": call_id}})
        assert "Item" in item
        assert client.check_token(call_id, "get_weather", token) == (True, None)

        assert call_function(base, path, token, call_id) == "Sunny in Paris"
        assert call_function(other, path, token, call_id, "Oslo") == "Sunny in Oslo"
        assert REFUSED in call_function(base, path, token, "call-someone-else")
        assert REFUSED in call_function(base, path, forged, call_id)


def test_agent_with_the_services_key_and_no_client(
    stack: ServedStack, client: RemoteSessionManager, call_id: str
) -> None:
    agent = weather_agent(swaig_secret=stack.signing_key)
    minted = client.generate_token("get_weather", call_id)
    other_call = client.generate_token("get_weather", call_id + "-other")
    other_function = client.generate_token("get_time", call_id)
    forged = SessionManager(secret_key="not-the-key").generate_token("get_weather", call_id)

    with served(agent) as (base, _):
        path = "/weather/swaig/"
        assert call_function(base, path, minted, call_id) == "Sunny in Paris"
        for refused in (other_call, other_function, forged):
            assert REFUSED in call_function(base, path, refused, call_id)
