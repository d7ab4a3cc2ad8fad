"""Every AWS call a handler makes is one its function's role allows in template.yaml.

Runs each function through its paths (successes, refusals, an over-limit merge, a key
refresh, a whole rotation, a cleanup that deletes) and compares the operations recorded
with botocore's event hooks to the role's actions: a call missing from the template
would be AccessDenied (a 503) only once deployed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from session_core.store import DynamoSessionStore
from session_rules.limits import MAX_METADATA_BYTES
from signalwire.core.security.session_manager import SessionManager

from local import template
from tests.support.handler_stack import HandlerStack


def allowed_actions(fn: template.Function) -> set[str]:
    actions: set[str] = set()
    for policy in template.resource(fn.logical_id)["Properties"].get("Policies", []):
        for statement in policy["Statement"]:
            assert statement["Effect"] == "Allow"
            action = statement["Action"]
            actions.update([action] if isinstance(action, str) else action)
    return actions


def exercise(stack: HandlerStack) -> None:
    """Each route's paths, including the ones that write twice or read keys again."""
    half = "x" * (MAX_METADATA_BYTES // 2)
    stack.create("call-1", {"a": 1})
    stack.create("call-1", {"b": 2})
    stack.create("call-1")
    token = stack.mint("call-1", "f")
    stack.reset()  # a cold start: the create function reads the key itself
    stack.request("POST", "/sessions", {"call_id": "call-2", "functions": ["f", "g"]})  # create and mint
    stack.request("POST", "/sessions", {"call_id": "call-2", "restart": False})
    stack.request("POST", "/sessions/call-1/tokens", {"functions": ["f", "g"]})
    day = int(stack.account.environment["MAX_TOKEN_LIFETIME_SECS"])
    stack.request("POST", "/sessions/call-1/tokens", {"function": "f", "token_expiry_secs": day})  # extends it
    stack.request("POST", "/sessions/nobody/tokens", {"function": "f"})
    stack.validate("call-1", "f", token)
    stack.validate("call-1", "f", SessionManager(secret_key="another key").generate_token("f", "call-1"))
    stack.request("POST", "/tokens/debug", {"token": token})
    stack.request("GET", "/sessions/call-1/metadata")
    stack.request("PATCH", "/sessions/call-1/metadata", {"metadata": {"c": half}})
    stack.request("PATCH", "/sessions/call-1/metadata", {"key": "d", "value": half})  # 413: nothing written
    stack.request("PATCH", "/sessions/new-call/metadata", {"key": "k", "value": 1})
    stack.request("DELETE", "/sessions/call-1/metadata")
    stack.request("DELETE", "/sessions/call-1")
    stack.request("DELETE", "/sessions/call-1")
    stack.request("PATCH", "/sessions/call-1/metadata", {"key": "k", "value": 1})  # ended: refused
    stack.create("call-1")  # replaces the ended session
    past = DynamoSessionStore(stack.account.table_name, stack.account.dynamodb, clock=lambda: time.time() - 7200)
    past.create("expired", {}, 3600)
    stack.invoke("cleanup", {})
    version = str(uuid.uuid4())
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        stack.invoke("rotate", {"SecretId": stack.account.secret_id, "ClientRequestToken": version, "Step": step})


def test_each_role_allows_exactly_what_its_handler_calls(make_stack: Callable[..., HandlerStack]) -> None:
    stack = make_stack(REVOCATION_CHECK="true", DEBUG_MODE="true")
    exercise(stack)
    made: dict[str, set[str]] = {}
    for name, operation in stack.calls:
        made.setdefault(name, set()).add(operation)
    assert "" not in made, "calls made outside a handler were recorded"
    for name, fn in stack.functions.items():
        assert made.get(name, set()) == allowed_actions(fn), name  # each role: exactly what it uses
    # the exercise reached every function that talks to AWS (debug makes no call)
    assert set(made) == {name for name, fn in stack.functions.items() if allowed_actions(fn)}
