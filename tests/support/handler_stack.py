"""The in-process stack as the handler tests drive it: replies parsed and checked, AWS calls recorded."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from harness.in_process import InProcessStack

from .accounts import AwsAccount


@dataclass
class Reply:
    """An HTTP API response as the handler returned it, body parsed."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    raw: dict[str, Any] = field(repr=False)


class HandlerStack(InProcessStack):
    """The template's functions over a provisioned test account (the `aws` fixture's)."""

    def __init__(self, account: AwsAccount) -> None:
        super().__init__(account.provisioned, observe=self._watch)
        self.account = account
        # (function, "service:Operation") of every AWS call the handlers made, in order.
        self.calls: list[tuple[str, str]] = []
        self._current = ""

    def _watch(self, client: Any) -> None:
        client.meta.events.register("before-call", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.calls.append((self._current, f"{model.service_model.signing_name}:{model.name}"))

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        self._current = name
        try:
            return super().invoke(name, event)
        finally:
            self._current = ""

    def http(self, name: str, event: dict[str, Any]) -> Reply:
        """Invoke an API handler; every answer must be a JSON object with a JSON content type."""
        raw = self.invoke(name, event)
        headers = {k.lower(): v for k, v in (raw.get("headers") or {}).items()}
        assert headers.get("content-type", "").startswith("application/json"), raw
        assert raw.get("body"), raw
        parsed = json.loads(raw["body"])
        assert isinstance(parsed, dict), raw
        return Reply(raw["statusCode"], parsed, headers, raw)

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Reply:
        """Route a request to its function, as API Gateway does, and return the reply."""
        name, _, _ = self.route(method, path)
        return self.http(name, self.event(method, path, body, **kwargs))

    def create(self, call_id: str, metadata: dict[str, Any] | None = None) -> Reply:
        reply = self.request("POST", "/sessions", {"call_id": call_id, "metadata": metadata or {}})
        assert reply.status in (200, 201), reply
        return reply

    def mint(self, call_id: str, function: str) -> str:
        reply = self.request("POST", f"/sessions/{call_id}/tokens", {"function": function})
        assert reply.status == 201, reply
        return str(reply.body["token"])

    def validate(self, call_id: str, function: str, token: str) -> Reply:
        return self.request("POST", "/tokens/validate", {"call_id": call_id, "function": function, "token": token})
