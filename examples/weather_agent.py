"""A small SignalWire agent whose SWAIG tokens and per-call metadata live in the session service.

    SWAIG_SESSION_URL=http://127.0.0.1:3000 python examples/weather_agent.py --port 3101

Three tools: `get_weather` (answers), `remember_city` (writes the caller's city into the call's
metadata) and `my_city` (reads it back, on whichever replica the call reaches). When the call
ends, SignalWire posts its summary, and the agent ends the call's session: with the stack's
RevocationCheck on, the call's tokens are refused from then on.

The one line that adopts the service is marked below; everything else is the SDK's.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

import session_client
import uvicorn
from session_client import RemoteSessionManager
from signalwire import AgentBase
from signalwire.core.function_result import FunctionResult

ROUTE = "/weather"
FORECASTS = {"paris": "sunny, 21 C", "london": "drizzle, 14 C", "tokyo": "clear, 25 C"}


class WeatherAgent(AgentBase):
    def __init__(self, manager: RemoteSessionManager, basic_auth: tuple[str, str], port: int = 3101) -> None:
        super().__init__(name="weather", route=ROUTE, port=port, basic_auth=basic_auth, suppress_logs=True)
        # The one line: the session service mints and checks this agent's tokens from now on (install
        # also takes the agent's token lifetime, and keeps the token checks off its event loop).
        self.sessions = manager.install(self)  # what the tools below use: the agent's session manager
        self.prompt_add_section("Role", "You tell callers the weather, and remember their city for the call.")
        self.set_post_prompt("Summarize the call in one sentence.")
        self.define_tool(
            "get_weather",
            "The weather in a city",
            {"city": {"type": "string", "description": "the city"}},
            self.get_weather,
        )
        self.define_tool(
            "remember_city",
            "Remember the caller's city for the rest of the call",
            {"city": {"type": "string", "description": "the caller's city"}},
            self.remember_city,
        )
        self.define_tool("my_city", "The city the caller gave earlier in this call", {}, self.my_city)

    # SWAIG tools run in a worker thread (the SDK's run_sync_handler): a request to the service here
    # does not hold up the agent's event loop.
    def get_weather(self, args: dict[str, Any], raw_data: dict[str, Any]) -> FunctionResult:
        city = str(args.get("city", ""))
        return FunctionResult(f"{city}: {FORECASTS.get(city.lower(), 'no forecast')}")

    def remember_city(self, args: dict[str, Any], raw_data: dict[str, Any]) -> FunctionResult:
        call_id, city = str(raw_data["call_id"]), str(args.get("city", ""))
        if not self.sessions.set_session_metadata(call_id, "city", city):
            return FunctionResult("This call has ended.")
        return FunctionResult(f"I will remember {city}.")

    def my_city(self, args: dict[str, Any], raw_data: dict[str, Any]) -> FunctionResult:
        city = self.sessions.get_session_metadata(str(raw_data["call_id"])).get("city")
        return FunctionResult(f"You are in {city}." if city else "You have not told me your city.")

    def on_summary(self, summary: Any, raw_data: Any = None) -> None:
        """The call is over: end its session (its metadata goes, its tokens stop)."""
        call_id = raw_data.get("call_id") if isinstance(raw_data, dict) else None
        if call_id:
            self.sessions.end_session(str(call_id))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=3101)
    parser.add_argument("--service", default=os.environ.get("SWAIG_SESSION_URL", "http://127.0.0.1:3000"))
    args = parser.parse_args()
    basic_auth = (os.environ.get("AGENT_USER", "agent"), os.environ.get("AGENT_PASSWORD", "agent-password"))
    agent = WeatherAgent(RemoteSessionManager(args.service), basic_auth, args.port)
    logging.getLogger("uvicorn.access").disabled = True
    print(
        f"weather agent on http://127.0.0.1:{args.port}{ROUTE}, session_client {session_client.__version__}"
        f" from {session_client.__file__}, service {args.service}",
        flush=True,
    )
    uvicorn.run(agent.get_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
