"""Plays SignalWire's side of one call against an agent's replicas, as SignalWire's AI would.

    python examples/signalwire_player.py http://127.0.0.1:3101/weather http://127.0.0.1:3102/weather

1. fetches the SWML, as SignalWire does when the call comes in: a POST to the agent's route with
   the call in the body (`{"call": {"call_id": ...}}`), on the first replica;
2. calls the AI's tools, each through its `web_hook_url` with the token the SWML put in its query
   (`?__token=...`) and a SWAIG body (`function`, `argument.parsed`, `call_id`, ...), alternating
   replicas: a token minted on one validates on the other, and metadata written on one is read
   on the other;
3. tries a token on a tool it was not minted for (refused);
4. posts the call's summary to the `post_prompt_url` (the agent ends the call's session then);
5. calls a tool of the ended call again: refused when the stack checks revocation.

Prints one line per step; exits 1 at the first answer that is not the expected one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

REFUSED = (  # what the SDK answers a tool call whose token does not validate
    "I'm sorry, the security token for this function is invalid or expired. I cannot execute this action."
)
TIMEOUT = 60.0


class WrongAnswer(Exception):
    pass


class Player:
    def __init__(self, replicas: list[str], auth: tuple[str, str], out: Callable[[str], None] = print) -> None:
        self.replicas = [url.rstrip("/") for url in replicas]
        self.auth = auth
        self.out = out
        self.http = requests.Session()
        self.call_id = str(uuid.uuid4())  # SignalWire's call ids are UUIDs
        self.ai_session_id = str(uuid.uuid4())

    def post(self, url: str, body: dict[str, Any], **params: str) -> Any:
        answer = self.http.post(url, json=body, params=params, auth=self.auth, timeout=TIMEOUT)
        if answer.status_code != 200:
            raise WrongAnswer(f"POST {urlsplit(url).path} answered {answer.status_code}: {answer.text[:300]}")
        return answer.json()

    def fetch_swml(self) -> dict[str, Any]:
        """The agent's SWML for this call, as SignalWire asks for it when the call comes in."""
        body = {
            "call": {
                "call_id": self.call_id,
                "node_id": "example-node",
                "segment_id": str(uuid.uuid4()),
                "call_state": "created",
                "direction": "inbound",
                "type": "phone",
                "from": "+15551230000",
                "to": "+15557654321",
                "headers": [],
            },
            "vars": {},
        }
        document = self.post(self.replicas[0], body)
        ai = next(verb["ai"] for verb in document["sections"]["main"] if "ai" in verb)
        return dict(ai)

    def tool(self, replica: str, ai: dict[str, Any], name: str, args: dict[str, Any], token: str) -> str:
        """A SWAIG function call to `replica`, on the webhook path the SWML gave, with `token`."""
        function = next(f for f in ai["SWAIG"]["functions"] if f["function"] == name)
        path = urlsplit(function.get("web_hook_url") or ai["SWAIG"]["defaults"]["web_hook_url"]).path
        body = {
            "app_name": "swml app",
            "function": name,
            "purpose": function["description"],
            "argument_desc": function["parameters"],
            "argument": {"parsed": [args], "raw": json.dumps(args), "substituted": ""},
            "call_id": self.call_id,
            "ai_session_id": self.ai_session_id,
            "content_type": "text/swaig",
            "content_disposition": "SWAIG Function",
            "version": "2.0",
            "caller_id_num": "+15551230000",
        }
        origin = urlsplit(replica)
        answer = self.post(f"{origin.scheme}://{origin.netloc}{path}", body, __token=token)
        return str(answer.get("response", answer))

    def expect(self, step: str, got: str, wanted: str) -> None:
        if got != wanted:
            raise WrongAnswer(f"{step}: expected {wanted!r}, got {got!r}")
        self.out(f"ok  {step:<28} {got}")

    def run(self) -> str:
        """Every step; whether the ended call's token was refused ("refused") or not ("accepted")."""
        ai = self.fetch_swml()
        tokens = {f["function"]: token_of(f["web_hook_url"]) for f in ai["SWAIG"]["functions"]}
        self.out(f"ok  {'SWML fetched':<28} call {self.call_id}: tokens for {', '.join(sorted(tokens))}")
        first, second = self.replicas[0], self.replicas[-1]

        self.expect(
            "get_weather (replica 2)",
            self.tool(second, ai, "get_weather", {"city": "Paris"}, tokens["get_weather"]),
            "Paris: sunny, 21 C",
        )
        self.expect(
            "remember_city (replica 1)",
            self.tool(first, ai, "remember_city", {"city": "Paris"}, tokens["remember_city"]),
            "I will remember Paris.",
        )
        self.expect("my_city (replica 2)", self.tool(second, ai, "my_city", {}, tokens["my_city"]), "You are in Paris.")
        self.expect("a token for another tool", self.tool(first, ai, "my_city", {}, tokens["get_weather"]), REFUSED)

        summary = {
            "app_name": "swml app",
            "call_id": self.call_id,
            "ai_session_id": self.ai_session_id,
            "conversation_type": "voice",
            "post_prompt_data": {"raw": "The caller asked about the weather in Paris.", "substituted": ""},
            "call_log": [],
        }
        path = urlsplit(ai["post_prompt_url"])
        origin = urlsplit(second)
        self.post(f"{origin.scheme}://{origin.netloc}{path.path}", summary, __token=token_of(ai["post_prompt_url"]))
        self.out(f"ok  {'summary posted (replica 2)':<28} the agent ended the call's session")

        after = self.tool(first, ai, "get_weather", {"city": "Paris"}, tokens["get_weather"])
        outcome = "refused" if after == REFUSED else "accepted"
        self.out(f"ok  {'a tool after the end':<28} {outcome}: {after}")
        return outcome


def token_of(url: str) -> str:
    [token] = parse_qs(urlsplit(url).query)["__token"]
    return token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("replicas", nargs="+", help="each replica's agent URL (route included)")
    parser.add_argument("--revocation", action="store_true", help="require the ended call's token to be refused")
    args = parser.parse_args(argv)
    auth = (os.environ.get("AGENT_USER", "agent"), os.environ.get("AGENT_PASSWORD", "agent-password"))
    try:
        outcome = Player(args.replicas, auth).run()
    except (WrongAnswer, requests.RequestException) as exc:
        print(f"FAIL {exc}", flush=True)
        return 1
    if args.revocation and outcome != "refused":
        print("FAIL the ended call's token was accepted: is the stack's RevocationCheck on?", flush=True)
        return 1
    print("passed: one call across the replicas, as SignalWire would make it", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
