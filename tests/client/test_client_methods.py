"""Every RemoteSessionManager method against the real local stack, with the SDK's argument orders."""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Callable, Iterator

import pytest
import requests
from session_client import InvalidInput, RemoteSessionManager, SessionEnded, SessionServiceError, TokenCheck, minted
from session_rules.codes import DEBUG_DISABLED_MESSAGE
from signalwire.core.security.session_manager import SessionManager

from harness.served import ServedStack, running_stack
from local.template import ROOT
from tests.support.recording import RecordingSession, RecordingTransport


@pytest.fixture(scope="module")
def strict_stack() -> Iterator[ServedStack]:
    """A stack deployed with DebugMode and RevocationCheck on."""
    with running_stack(DEBUG_MODE="true", REVOCATION_CHECK="true") as running:
        yield running


@pytest.fixture(scope="module")
def strict(strict_stack: ServedStack, connect: Callable[..., RemoteSessionManager]) -> Iterator[RemoteSessionManager]:
    with connect(strict_stack.base_url) as remote:
        yield remote


# -- sessions --------------------------------------------------------------------------------


def test_create_session_generates_an_id_like_the_sdk(client: RemoteSessionManager) -> None:
    first, second = client.create_session(), client.create_session()
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", first) and first != second
    assert client.generate_token("f", first)  # the generated session exists: minting needs no auto-create


def test_create_session_keeps_a_given_id_and_merges_metadata(client: RemoteSessionManager, call_id: str) -> None:
    assert client.create_session(call_id, metadata={"lang": "en"}) == call_id
    assert client.create_session(call_id, metadata={"tier": 2}) == call_id  # repeated: same session
    assert client.get_session_metadata(call_id) == {"lang": "en", "tier": 2}


def test_activate_session_makes_the_session_mintable(
    client: RemoteSessionManager, connect: Callable[..., RemoteSessionManager], call_id: str
) -> None:
    no_auto = connect(client.base_url, auto_create=False)
    with pytest.raises(SessionServiceError) as missing:
        no_auto.generate_token("get_weather", call_id)
    assert (missing.value.status, missing.value.code) == (404, "session_not_found")
    assert no_auto.activate_session(call_id) is True
    assert no_auto.validate_token(call_id, "get_weather", no_auto.generate_token("get_weather", call_id))


def test_end_session_reports_what_it_ended(
    client: RemoteSessionManager, connect: Callable[..., RemoteSessionManager], call_id: str
) -> None:
    client.create_session(call_id, metadata={"a": 1})
    assert client.end_session(call_id) is True
    assert client.end_session(call_id) is False  # already ended
    assert client.get_session_metadata(call_id) == {}
    for manager in (client, connect(client.base_url, auto_create=False)):
        with pytest.raises(SessionServiceError) as ended:
            manager.generate_token("f", call_id)
        assert (ended.value.status, ended.value.code) == (409, "session_ended")


def test_bool_methods_answer_false_for_a_session_s_state(client: RemoteSessionManager, call_id: str) -> None:
    """Ended or unknown sessions are verdicts (False), as the SDK's bools are, not exceptions."""
    assert client.end_session(call_id) is False  # never started
    assert client.delete_session_metadata(call_id) is False
    client.create_session(call_id, metadata={"a": 1})
    assert client.end_session(call_id) is True
    assert client.set_session_metadata(call_id, "k", 1) is False  # ended: nothing written
    assert client.delete_session_metadata(call_id) is False
    assert client.activate_session(call_id) is False  # an ended call stays ended
    assert client.get_session_metadata(call_id) == {}
    assert client.create_session(call_id) == call_id  # an explicit create starts it afresh
    assert client.activate_session(call_id) is True


@pytest.mark.parametrize("bad_id", ["", ".", "..", "a/b", "q?x=1", "pct%2Fx", "hash#1", "ünï", "a:b", "x" * 129])
def test_a_call_id_outside_the_rule_is_refused_before_any_request(
    stack: ServedStack, connect: Callable[..., RemoteSessionManager], bad_id: str
) -> None:
    recorded = RecordingSession()
    manager = connect(stack.base_url, session=recorded)
    for call in (
        lambda: manager.end_session(bad_id),
        lambda: manager.activate_session(bad_id),
        lambda: manager.generate_token("f", bad_id),
        lambda: manager.get_session_metadata(bad_id),
        lambda: manager.set_session_metadata(bad_id, "k", 1),
        lambda: manager.delete_session_metadata(bad_id),
    ):
        with pytest.raises(SessionServiceError) as refused:
            call()
        assert (refused.value.status, refused.value.code) == (400, "invalid_call_id")
    assert manager.validate_token(bad_id, "f", "dG9rZW4=") is False
    assert recorded.sent == []


# -- tokens ----------------------------------------------------------------------------------


def test_generate_token_creates_a_missing_session_and_the_sdk_accepts_it(
    client: RemoteSessionManager, stack: ServedStack, call_id: str
) -> None:
    token = client.generate_token("get_weather", call_id)  # no session yet: created, then minted
    assert client.get_session_metadata(call_id) == {}
    sdk = SessionManager(secret_key=stack.signing_key)
    assert sdk.validate_token(call_id, "get_weather", token)
    assert not sdk.validate_token(call_id, "get_time", token)


def test_generate_token_starts_a_fresh_session_over_an_expired_one(
    client: RemoteSessionManager, stack: ServedStack, call_id: str
) -> None:
    """Expired is not ended: auto-create starts the call again, as for an id that never had a session."""
    from session_core.store import DynamoSessionStore

    past = DynamoSessionStore(stack.table_name, stack.client("dynamodb"), clock=lambda: time.time() - 7200)
    past.create(call_id, {"old": True}, 3600)
    token = client.generate_token("get_weather", call_id)
    assert client.check_token(call_id, "get_weather", token) == TokenCheck(True, None)
    assert client.get_session_metadata(call_id) == {}  # a fresh session, not the expired one


def test_generate_token_after_end_is_refused_until_the_call_is_created_again(
    strict: RemoteSessionManager, call_id: str
) -> None:
    old = strict.generate_token("f", call_id)
    strict.end_session(call_id)
    assert strict.check_token(call_id, "f", old) == TokenCheck(False, "session_ended")
    with pytest.raises(SessionServiceError) as ended:
        strict.generate_token("f", call_id)  # auto-create never revives an ended call
    assert ended.value.code == "session_ended"
    strict.create_session(call_id)
    new = strict.generate_token("f", call_id)
    assert strict.validate_token(call_id, "f", new)
    assert strict.check_token(call_id, "f", old) == TokenCheck(False, "session_ended")


def test_create_tool_token_keeps_the_sdk_argument_order(client: RemoteSessionManager, call_id: str) -> None:
    token = client.create_tool_token("lookup", call_id)
    assert client.validate_tool_token("lookup", token, call_id)
    assert client.validate_token(call_id, "lookup", token)
    assert not client.validate_tool_token("lookup", token, call_id + "x")


def test_create_tool_tokens_mints_a_batch(client: RemoteSessionManager, call_id: str) -> None:
    names = ["get_weather", "book_table", "transfer"]
    tokens = client.create_tool_tokens(call_id, names)
    assert sorted(tokens) == sorted(names) and len(set(tokens.values())) == 3
    for name, token in tokens.items():
        for other in names:
            assert client.validate_token(call_id, other, token) is (other == name)


def test_create_tool_tokens_refuses_an_oversized_batch(client: RemoteSessionManager, call_id: str) -> None:
    client.create_session(call_id)
    with pytest.raises(SessionServiceError) as error:
        client.create_tool_tokens(call_id, [f"f{i}" for i in range(65)])
    assert (error.value.status, error.value.code) == (400, "invalid_function")


def test_check_token_gives_the_services_reasons(client: RemoteSessionManager, stack: ServedStack, call_id: str) -> None:
    token = client.generate_token("get_weather", call_id)
    forged = SessionManager(secret_key="not-the-key").generate_token("get_weather", call_id)
    expired = SessionManager(token_expiry_secs=-60, secret_key=stack.signing_key).generate_token("get_weather", call_id)
    assert client.check_token(call_id, "get_weather", token) == TokenCheck(True, None)
    assert client.validate_token_reason(call_id, "get_weather", token) == (True, None)
    assert client.check_token(call_id, "get_time", token) == (False, "function_mismatch")
    assert client.check_token("call-other", "get_weather", token) == (False, "call_id_mismatch")
    assert client.check_token(call_id, "get_weather", forged) == (False, "bad_signature")
    assert client.check_token(call_id, "get_weather", expired) == (False, "expired")
    assert client.check_token(call_id, "get_weather", "bm90IGEgdG9rZW4") == (False, "malformed")


@pytest.mark.parametrize(
    ("call", "function", "token", "code"),
    [
        ("", "get_weather", "dG9r", "invalid_call_id"),
        ("has space", "get_weather", "dG9r", "invalid_call_id"),
        ("call-1", "get.weather", "dG9r", "invalid_function"),
        ("call-1", "get_weather", "", "invalid_token"),
        ("call-1", "get_weather", "A" * 1025, "invalid_token"),
    ],
)
def test_validate_answers_false_to_inputs_the_service_refuses(
    client: RemoteSessionManager, call: str, function: str, token: str, code: str
) -> None:
    # The SDK answers False to anything it cannot check; the service's 400 becomes that False.
    assert client.check_token(call, function, token) == (False, code)
    assert client.validate_token(call, function, token) is False


def test_debug_token_when_debug_mode_is_on_decodes_locally_as_the_service_does(
    strict_stack: ServedStack, connect: Callable[..., RemoteSessionManager], call_id: str
) -> None:
    recorded = RecordingSession()
    debugging = connect(strict_stack.base_url, debug_mode=True, session=recorded)
    token = debugging.generate_token("get_weather", call_id)
    recorded.sent.clear()
    info = debugging.debug_token(token)
    assert info["valid_format"] is True
    assert info["components"]["function"] == "get_weather"
    assert info["components"]["call_id"] == call_id[:8] + "..."
    assert info["status"]["is_expired"] is False
    assert debugging.debug_token("A" * 2000)["valid_format"] is False
    assert recorded.sent == []  # a parse: no request
    for odd in (token, token.rstrip("="), "A" * 2000, "bm90IGEgdG9rZW4", "x"):
        service = requests.post(f"{strict_stack.base_url}/tokens/debug", json={"token": odd}, timeout=60)
        if service.status_code == 200:  # the same view, within the second both were computed in
            local = debugging.debug_token(odd)
            view = service.json()
            if "status" in view:
                view["status"] = local["status"] = None
            assert local == view, odd


def test_debug_token_when_debug_mode_is_off_costs_no_request(
    stack: ServedStack, strict_stack: ServedStack, connect: Callable[..., RemoteSessionManager], call_id: str
) -> None:
    """Off by default, as in the SDK, even against a stack with DebugMode on."""
    for url in (stack.base_url, strict_stack.base_url):
        recorded = RecordingSession()
        manager = connect(url, session=recorded)
        token = manager.generate_token("f", call_id)
        recorded.sent.clear()
        assert manager.debug_token(token) == {"error": DEBUG_DISABLED_MESSAGE}
        assert recorded.sent == []
    assert SessionManager().debug_token("x") == {"error": DEBUG_DISABLED_MESSAGE}  # the SDK's own answer


# -- metadata --------------------------------------------------------------------------------


def test_metadata_key_value_and_whole_object_forms(client: RemoteSessionManager, call_id: str) -> None:
    value = {"n": 1, "x": 1.5, "s": "héllo ☎", "none": None, "ok": True, "list": [1, {"deep": [2]}]}
    assert client.set_session_metadata(call_id, "profile", value) is True  # creates the session
    assert client.set_session_metadata(call_id, {"lang": "fr", "count": 3}) is True
    assert client.set_session_metadata(call_id, "nothing", None) is True  # None is a value, not "absent"
    assert client.get_session_metadata(call_id) == {"profile": value, "lang": "fr", "count": 3, "nothing": None}
    assert isinstance(client.get_session_metadata(call_id)["count"], int)


def test_set_session_metadata_needs_one_of_the_two_forms(client: RemoteSessionManager, call_id: str) -> None:
    with pytest.raises(TypeError):
        client.set_session_metadata(call_id, "key_without_value")
    with pytest.raises(TypeError):
        client.set_session_metadata(call_id, {"a": 1}, "and a value")


def test_delete_session_metadata(client: RemoteSessionManager, call_id: str) -> None:
    client.set_session_metadata(call_id, "k", "v")
    assert client.delete_session_metadata(call_id) is True
    assert client.delete_session_metadata(call_id) is False
    assert client.get_session_metadata(call_id) == {}


def test_metadata_of_an_unknown_session_is_empty(client: RemoteSessionManager, call_id: str) -> None:
    assert client.get_session_metadata(call_id) == {}


@pytest.mark.parametrize("odd_id", ["root.2", ".x.", "a~b", "-_-", "1c3b8f8e-9d1b-4a57-8f3e-2b7c1d0e4f6a"])
def test_call_ids_of_every_allowed_kind_round_trip(client: RemoteSessionManager, odd_id: str) -> None:
    client.set_session_metadata(odd_id, "seen", odd_id)
    assert client.get_session_metadata(odd_id) == {"seen": odd_id}
    token = client.generate_token("f", odd_id)
    assert client.validate_token(odd_id, "f", token)
    assert client.end_session(odd_id) is True


def test_errors_carry_status_and_code(client: RemoteSessionManager, call_id: str) -> None:
    with pytest.raises(SessionServiceError) as bad:
        client.get_session_metadata("has space")
    assert (bad.value.status, bad.value.code) == (400, "invalid_call_id")
    assert isinstance(bad.value, InvalidInput) and bad.value.unsent
    with pytest.raises(InvalidInput) as large:
        client.set_session_metadata(call_id, "blob", "x" * 70_000)
    assert (large.value.status, large.value.code) == (413, "metadata_too_large")
    assert "413" in str(large.value) and large.value.message


def test_a_mint_answered_while_the_call_ends_is_not_held(
    stack: ServedStack,
    connect: Callable[..., RemoteSessionManager],
    transport_to: Callable[..., RecordingTransport],
    call_id: str,
) -> None:
    """The tokens of a mint in flight when end_session runs belong to an ended session: never handed out later."""

    def end_during_mint(method: str, path: str) -> None:
        if path.endswith("/tokens"):
            assert client.end_session(call_id) is True

    transport = transport_to(stack.base_url, after=end_during_mint)
    client = connect(stack.base_url, transport=transport)
    client.create_session(call_id)
    client.generate_token("late_fn", call_id)
    transport.after = None
    with pytest.raises(SessionEnded) as ended:
        client.generate_token("late_fn", call_id)
    assert ended.value.code == "session_ended"


def test_another_instance_ending_the_call_is_seen_once_the_hold_runs_out(
    stack: ServedStack, connect: Callable[..., RemoteSessionManager], call_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tokens are held only for a render's moments, so a call ended elsewhere soon stops being served."""
    monkeypatch.setattr(minted, "HOLD_SECS", 0.2)
    first, other = connect(stack.base_url), connect(stack.base_url)
    first.create_tool_token("f", first.create_session())  # learned
    first.create_session(call_id)
    assert first.create_tool_token("f", call_id)  # held from the create
    assert other.end_session(call_id) is True
    time.sleep(0.2)
    with pytest.raises(SessionEnded) as ended:
        first.create_tool_token("f", call_id)
    assert ended.value.code == "session_ended"


def test_a_session_started_afresh_by_activate_session_is_not_served_old_tokens(
    stack: ServedStack, connect: Callable[..., RemoteSessionManager], call_id: str
) -> None:
    from session_core.store import DynamoSessionStore

    recorded = RecordingSession()
    manager = connect(stack.base_url, session=recorded)
    manager.create_tool_token("f", manager.create_session())  # learned
    manager.create_session(call_id)
    recorded.sent.clear()
    old = manager.create_tool_token("f", call_id)
    assert recorded.sent == []  # held from the create
    table = stack.client("dynamodb")
    table.delete_item(TableName=stack.table_name, Key={"call_id": {"S": call_id}})
    past = DynamoSessionStore(stack.table_name, table, clock=lambda: time.time() - 7200)
    past.create(call_id, {}, 3600)  # the session has expired meanwhile...
    assert manager.activate_session(call_id) is True  # ...and activate_session starts it afresh
    fresh = manager.create_tool_token("f", call_id)
    assert fresh != old  # minted for the new session, not the one held for the earlier session
    assert SessionManager(secret_key=stack.signing_key).validate_tool_token("f", fresh, call_id)


def test_check_token_answers_the_documented_type(client: RemoteSessionManager, call_id: str) -> None:
    """docs/client.md names the type check_token is annotated with, and it is the (valid, reason) named tuple."""
    token = client.generate_token("get_weather", call_id)
    for result in (client.check_token(call_id, "get_weather", token), client.check_token(call_id, "other", token)):
        assert type(result) is TokenCheck and result._fields == ("valid", "reason")
        valid, reason = result
        assert (valid, reason) == (result.valid, result.reason)
    annotation = inspect.signature(RemoteSessionManager.check_token).return_annotation
    assert annotation == "TokenCheck"
    [row] = [
        line for line in (ROOT / "docs" / "client.md").read_text().splitlines() if line.startswith("| `check_token(")
    ]
    assert f"a `{annotation}`, the named tuple `(valid, reason)`" in row
