"""A real signalwire-sdk AgentBase served by uvicorn on a free loopback port, and SignalWire's requests to it.

`served(agent)` runs the agent's own FastAPI app (`get_app()`) in a thread; its event loop runs
in that thread, whose name `Served.loop_thread` gives, so a test can tell what ran on the loop.
`render(url, route, call_id)` fetches the SWML as SignalWire does (`{"call": {"call_id": ...}}`),
`call_function(...)` makes the AI's SWAIG function call with a token in its query string.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import requests
import uvicorn
from signalwire import AgentBase

AUTH = ("agent-user", "agent-password")
REFUSED = "the security token for this function is invalid or expired"


class Served(NamedTuple):
    url: str
    loop_thread: str  # the name of the thread the agent's event loop runs in


@contextlib.contextmanager
def served(agent: AgentBase) -> Iterator[Served]:
    server = uvicorn.Server(uvicorn.Config(agent.get_app(), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the agent's server did not start")
            time.sleep(0.01)
        yield Served(f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", thread.name)
    finally:
        server.should_exit = True
        thread.join(10)


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
    body = {"function": function, "argument": {"parsed": [arguments], "raw": json.dumps(arguments)}, "call_id": call_id}
    answer = requests.post(f"{url}{path}", params={"__token": token}, json=body, auth=AUTH, timeout=120)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["response"])
