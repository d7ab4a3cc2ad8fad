"""A real signalwire-sdk AgentBase served by uvicorn on a free loopback port, and SignalWire's requests to it.

`served(agent)` (bench/agent_load.py, shared with the benchmark) runs the agent's own FastAPI app
(`get_app()`) in a thread; its event loop runs in that thread, whose name `Served.loop_thread`
gives, so a test can tell what ran on the loop.
`render(url, route, call_id)` fetches the SWML as SignalWire does (`{"call": {"call_id": ...}}`),
`call_function(...)` makes the AI's SWAIG function call with a token in its query string.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from bench.agent_load import REFUSED, Served, served

__all__ = ["AUTH", "REFUSED", "Served", "call_function", "render", "served"]

AUTH = ("agent-user", "agent-password")


def render(url: str, route: str, call_id: str) -> dict[str, tuple[str, str]]:
    """POST the call to the agent as SignalWire does: {function: (webhook path, token)} from its SWML."""
    reply = requests.post(f"{url}{route}", json={"call": {"call_id": call_id}}, auth=AUTH, timeout=120)
    assert reply.status_code == 200, reply.text
    ai = next(verb["ai"] for verb in reply.json()["sections"]["main"] if "ai" in verb)
    hooks = {f["function"]: f["web_hook_url"] for f in ai["SWAIG"]["functions"] if "web_hook_url" in f}
    if "post_prompt_url" in ai:
        hooks["post_prompt"] = ai["post_prompt_url"]
    found = {}
    for function, hook in hooks.items():
        parts = urlsplit(hook)
        tokens = parse_qs(parts.query).get("__token")
        found[function] = (parts.path, tokens[0] if tokens else "")
    return found


def call_function(url: str, path: str, token: str, call_id: str, function: str, arguments: dict[str, Any]) -> str:
    """The AI's SWAIG function call: POST to the webhook with the token in its query string."""
    body: dict[str, Any] = {
        "function": function,
        "argument": {"parsed": [arguments], "raw": json.dumps(arguments)},
        "call_id": call_id,
    }
    answer = requests.post(f"{url}{path}", params={"__token": token}, json=body, auth=AUTH, timeout=120)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["response"])
