"""A manager holding the signing key: in-process tokens, the service's part sent in the background.

Against the real local stack: the background start reaches the service and another manager reads
what this one wrote; under RevocationCheck the service accepts exactly the tokens of live calls
this manager minted locally; an ended call stays ended; an unreachable service never fails a
render, and what could not be sent is counted and logged.
"""

from __future__ import annotations

import datetime
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from session_client import RemoteSessionManager, SessionServiceError, TokenCheck
from session_client.keys import SecretKeys, StaticKeys
from session_rules import tokens
from session_rules.codes import DEBUG_DISABLED_MESSAGE
from session_rules.limits import MAX_INCARNATIONS
from signalwire.core.security.session_manager import SessionManager

from harness.ports import free_port
from harness.served import ServedStack, running_stack
from tests.support.recording import RecordingSession
from tests.support.stub_service import Received, Reply, serving


@pytest.fixture(scope="module")
def strict_stack() -> Iterator[ServedStack]:
    """A stack deployed with RevocationCheck on."""
    with running_stack(REVOCATION_CHECK="true") as running:
        yield running


@pytest.fixture
def keyed(connect: Callable[..., RemoteSessionManager]) -> Callable[..., RemoteSessionManager]:
    """A manager on a stack, holding its key."""

    def make(stack: ServedStack, **options: object) -> RemoteSessionManager:
        return connect(stack.base_url, secret_key=stack.signing_key, **options)

    return make


MADE: list[RemoteSessionManager] = []


@pytest.fixture(autouse=True)
def _closed() -> Iterator[None]:
    """Managers made here are closed after each test, so none is left flushing at exit."""
    yield
    while MADE:
        MADE.pop().close()


def unreachable(**options: Any) -> RemoteSessionManager:
    """A manager holding a key, pointed where nothing listens (close() waits half a second)."""
    options = {"retries": 0, "timeout": (0.5, 0.5), **options}
    manager = RemoteSessionManager(f"http://127.0.0.1:{free_port()}", secret_key="k" * 64, **options)
    MADE.append(manager)
    return manager


# -- the service's part reaches it ----------------------------------------------------------------


def test_a_call_started_here_is_read_by_another_manager(
    stack: ServedStack, keyed: Callable[..., RemoteSessionManager], client: RemoteSessionManager, call_id: str
) -> None:
    manager = keyed(stack)
    token = manager.create_tool_token("get_weather", call_id)  # SignalWire's case: no create_session
    assert manager.set_session_metadata(call_id, "lang", "fr") is True  # queued behind the start
    assert manager.set_session_metadata(call_id, {"tier": 2}) is True
    assert manager.get_session_metadata(call_id) == {"lang": "fr", "tier": 2}  # reads its own writes
    assert client.get_session_metadata(call_id) == {"lang": "fr", "tier": 2}  # and so does another instance
    assert client.check_token(call_id, "get_weather", token) == TokenCheck(True, None)
    item = stack.client("dynamodb").get_item(TableName=stack.table_name, Key={"call_id": {"S": call_id}})["Item"]
    assert item["incarnation"]["S"] == tokens.parse(token).nonce[:8]  # type: ignore[union-attr]
    assert int(item["expires_at"]["N"]) >= tokens_expiry(token)  # the session outlives the token
    assert manager.delete_session_metadata(call_id) is True
    assert manager.end_session(call_id) is True
    assert manager.flush()
    assert client.get_session_metadata(call_id) == {}
    assert client.end_session(call_id) is False  # already ended, by the queued end
    assert manager.outbox_stats.sent == 5 and manager.outbox_stats.pending == 0


def tokens_expiry(token: str) -> int:
    return int(tokens.parse(token).expiry)  # type: ignore[union-attr]


def test_revocation_holds_exactly_for_locally_minted_tokens(
    strict_stack: ServedStack, keyed: Callable[..., RemoteSessionManager], connect: Callable[..., RemoteSessionManager]
) -> None:
    """Another instance validating through the service: a live call's tokens pass, an ended one's do not."""
    manager = keyed(strict_stack)
    validating = connect(strict_stack.base_url)  # no key: every check is the service's
    recorded = RecordingSession()
    # The key, and the service's verdict on what passes here.
    checking = keyed(strict_stack, revocation_check=True, session=recorded)
    live, ended = manager.create_session(), manager.create_session()
    live_token = manager.create_tool_token("f", live)
    ended_token = manager.create_tool_token("f", ended)
    assert manager.end_session(ended)
    assert manager.flush()
    sdk_token = SessionManager(secret_key=strict_stack.signing_key).generate_token("f", live)  # no incarnation
    forged = SessionManager(secret_key="not-the-key").generate_token("f", live)
    for other in (validating, checking):
        assert other.check_token(live, "f", live_token) == TokenCheck(True, None)
        assert other.check_token(ended, "f", ended_token) == (False, "session_ended")
        assert other.check_token(live, "f", sdk_token) == (False, "session_ended")
    assert manager.check_token(ended, "f", ended_token) == (False, "session_ended")  # ended here: known here
    assert keyed(strict_stack).check_token(ended, "f", ended_token) == TokenCheck(
        True, None
    )  # the key alone cannot tell
    recorded.sent.clear()
    assert checking.check_token(live, "f", forged) == (False, "bad_signature")
    assert recorded.sent == []  # refused in-process: the service is asked only about tokens that pass here


def test_a_second_instance_joins_the_call_with_its_own_incarnation(
    strict_stack: ServedStack, keyed: Callable[..., RemoteSessionManager], connect: Callable[..., RemoteSessionManager]
) -> None:
    first, second = keyed(strict_stack), keyed(strict_stack)
    call_id = first.create_session()
    tokens_of = [first.create_tool_token("f", call_id), second.create_tool_token("f", call_id)]
    assert first.flush() and second.flush()
    assert len({tokens.parse(t).nonce[:8] for t in tokens_of}) == 2  # type: ignore[union-attr]
    validating = connect(strict_stack.base_url)
    for token in tokens_of:
        assert validating.check_token(call_id, "f", token) == TokenCheck(True, None)


def test_an_ended_call_stays_ended_here_until_created_again(
    strict_stack: ServedStack, keyed: Callable[..., RemoteSessionManager], connect: Callable[..., RemoteSessionManager]
) -> None:
    manager = keyed(strict_stack)
    call_id = manager.create_session()
    old = manager.create_tool_token("f", call_id)
    assert manager.end_session(call_id) is True
    with pytest.raises(SessionServiceError) as ended:
        manager.create_tool_token("f", call_id)
    assert (ended.value.status, ended.value.code) == (409, "session_ended")
    assert manager.activate_session(call_id) is False
    assert manager.set_session_metadata(call_id, "k", 1) is False
    assert manager.delete_session_metadata(call_id) is False
    assert manager.create_session(call_id) == call_id  # an explicit create starts it afresh
    new = manager.create_tool_token("f", call_id)
    assert tokens.parse(new).nonce[:8] != tokens.parse(old).nonce[:8]  # type: ignore[union-attr]
    assert manager.flush()
    validating = connect(strict_stack.base_url)
    assert validating.check_token(call_id, "f", new) == TokenCheck(True, None)
    assert validating.check_token(call_id, "f", old) == (False, "session_ended")


def test_a_call_ended_elsewhere_refuses_this_start_and_then_mints_no_more(
    strict_stack: ServedStack, keyed: Callable[..., RemoteSessionManager], connect: Callable[..., RemoteSessionManager]
) -> None:
    other = connect(strict_stack.base_url)
    call_id = other.create_session()
    assert other.end_session(call_id)
    manager = keyed(strict_stack)
    token = manager.create_tool_token("f", call_id)  # it cannot know yet
    assert manager.flush()
    assert manager.outbox_stats.refused == 1  # restart: false, so the ended call stays ended
    assert other.check_token(call_id, "f", token) == (False, "session_ended")
    with pytest.raises(SessionServiceError) as ended:
        manager.create_tool_token("f", call_id)
    assert ended.value.code == "session_ended"


def test_a_one_hour_call_keeps_its_tools(
    strict_stack: ServedStack, keyed: Callable[..., RemoteSessionManager], connect: Callable[..., RemoteSessionManager]
) -> None:
    """Tokens live the manager's lifetime, and the service keeps the session at least as long."""
    now = [time.time()]
    for manager in (keyed(strict_stack, clock=lambda: now[0]), connect(strict_stack.base_url)):
        assert manager.token_expiry_secs == 3600  # AgentBase's, not the stack's 900
        call_id = manager.create_session()
        token = manager.create_tool_token("f", call_id)
        assert manager.flush()
        expiry = tokens_expiry(token)
        assert math.isclose(expiry, time.time() + 3600, abs_tol=5)
        item = strict_stack.client("dynamodb").get_item(
            TableName=strict_stack.table_name, Key={"call_id": {"S": call_id}}
        )["Item"]
        assert int(item["expires_at"]["N"]) >= expiry  # revocation never finds the session gone first
        if manager.validates_locally:  # the local check on a clock moved an hour on
            now[0] = expiry - 1
            assert manager.check_token(call_id, "f", token) == TokenCheck(True, None)
            now[0] = expiry + 1
            assert manager.check_token(call_id, "f", token) == (False, "expired")


# -- a service down, a queue full, inputs refused at once --------------------------------------


def test_an_unreachable_service_never_fails_a_render_and_the_loss_is_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    manager = unreachable(outbox_retry_secs=0.2)
    call_id = manager.create_session()
    token = manager.create_tool_token("f", call_id)
    assert manager.check_token(call_id, "f", token) == TokenCheck(True, None)
    assert manager.set_session_metadata(call_id, "k", 1) is True
    with caplog.at_level(logging.ERROR, logger="session_client"):
        assert manager.flush(30)
    stats = manager.outbox_stats
    assert stats.failed == 2 and stats.sent == 0 and stats.retries >= 1
    assert caplog.text.count("not sent, given up") == 2
    with pytest.raises(SessionServiceError) as read:
        manager.get_session_metadata(call_id)  # a read has nothing to read from
    # no verdict: unreachable, or at once once the background's failed tries have opened the breaker
    assert read.value.code in {"unreachable", "circuit_open"}


def test_a_full_queue_answers_false_and_is_counted(caplog: pytest.LogCaptureFixture) -> None:
    manager = unreachable(outbox_capacity=2)
    call_id = manager.create_session()  # the start: 1
    assert manager.set_session_metadata(call_id, "k", 1) is True  # 2
    with caplog.at_level(logging.ERROR, logger="session_client"):
        assert manager.set_session_metadata(call_id, "k", 2) is False
        assert manager.end_session(call_id) is False
    assert manager.outbox_stats.dropped == 2
    assert "queue full" in caplog.text


@pytest.mark.parametrize(
    ("metadata", "status", "code"),
    [
        ({"": 1}, 400, "invalid_metadata"),
        ({"k" * 129: 1}, 400, "invalid_metadata"),
        ({"k": float("nan")}, 400, "invalid_json"),
        ({"k": "\ud800"}, 400, "invalid_json"),
        ({"k": "x" * 70_000}, 413, "metadata_too_large"),
    ],
)
def test_a_write_the_service_would_refuse_is_refused_before_it_is_queued(
    metadata: dict[str, object], status: int, code: str
) -> None:
    manager = unreachable()
    with pytest.raises(SessionServiceError) as refused:
        manager.set_session_metadata("call-1", metadata)
    assert (refused.value.status, refused.value.code) == (status, code)
    with pytest.raises(SessionServiceError):
        manager.create_session("call-2", metadata)
    assert manager.outbox_stats.queued == 0


@pytest.mark.parametrize("bad_id", ["", ".", "a/b", "a:b", "x" * 129])
def test_a_call_id_outside_the_rule_is_refused_at_once(bad_id: str) -> None:
    manager = unreachable()
    for call in (
        lambda: manager.create_session(bad_id or "."),
        lambda: manager.create_tool_token("f", bad_id),
        lambda: manager.end_session(bad_id),
        lambda: manager.set_session_metadata(bad_id, "k", 1),
        lambda: manager.activate_session(bad_id),
    ):
        with pytest.raises(SessionServiceError) as refused:
            call()
        assert (refused.value.status, refused.value.code) == (400, "invalid_call_id")
    assert manager.outbox_stats.queued == 0


def test_the_key_and_its_lifetime_are_checked_when_the_manager_is_made() -> None:
    with pytest.raises(ValueError, match="exceeds max_token_lifetime_secs"):
        unreachable(token_expiry_secs=7200, max_token_lifetime_secs=3600)
    with pytest.raises(ValueError, match="token_expiry_secs must be"):
        unreachable(token_expiry_secs=0)
    assert unreachable(max_token_lifetime_secs=900).token_expiry_secs == 900  # the default, within the stack's
    with pytest.raises(ValueError, match="revocation_check"):
        RemoteSessionManager("http://127.0.0.1:1", revocation_check=True)  # nothing to check before asking


def test_the_sdks_debug_switch_is_the_managers(stack: ServedStack) -> None:
    """The SDK's own tests and tools turn debug_token on with `_debug_mode`."""
    manager = unreachable()
    sdk = SessionManager(secret_key="k" * 64)
    token = manager.create_tool_token("f", "call-1")
    assert manager._debug_mode is False and sdk._debug_mode is False
    assert manager.debug_token(token) == sdk.debug_token(token) == {"error": DEBUG_DISABLED_MESSAGE}
    manager._debug_mode = sdk._debug_mode = True
    assert manager.debug_mode is True
    mine, theirs = manager.debug_token(token), sdk.debug_token(token)
    assert mine["valid_format"] is theirs["valid_format"] is True
    assert mine["components"] == theirs["components"]
    manager.debug_mode = False
    assert manager._debug_mode is False


# -- what is sent is what was checked, each write as written ----------------------------------------


def test_a_value_changed_after_it_was_queued_is_sent_as_it_was(
    stack: ServedStack, keyed: Callable[..., RemoteSessionManager], call_id: str
) -> None:
    """The agent keeps using its objects: a change after the write (even to a value JSON cannot
    hold) changes nothing that is sent, and the call's later writes and its end still go."""
    manager = keyed(stack)
    history: list[object] = ["hello"]
    pairs = {"n": 1}
    manager.create_session(call_id)
    assert manager.set_session_metadata(call_id, "history", history)
    assert manager.set_session_metadata(call_id, pairs)
    history.append({"a set", "is not JSON"})
    pairs["n"] = 2
    assert manager.set_session_metadata(call_id, "other", 1)
    assert manager.get_session_metadata(call_id) == {"history": ["hello"], "n": 1, "other": 1}
    assert manager.end_session(call_id)
    assert manager.flush(60)
    stats = manager.outbox_stats
    assert (stats.sent, stats.failed, stats.pending) == (5, 0, 0)


@pytest.mark.parametrize(("first", "later"), [(1, True), (1, 1.0), (0, False), (True, 1)])
def test_a_later_write_of_an_equal_python_value_is_written(
    stack: ServedStack, keyed: Callable[..., RemoteSessionManager], call_id: str, first: object, later: object
) -> None:
    """1 == 1.0 == True in Python; the service stores JSON, where they differ."""
    manager = keyed(stack)
    manager.create_session(call_id)  # the start ahead of both writes
    assert manager.set_session_metadata(call_id, "k", first)
    assert manager.set_session_metadata(call_id, "k", later)
    stored = manager.get_session_metadata(call_id)["k"]
    assert (stored, type(stored)) == (later, type(later))


def test_an_end_whose_answer_was_lost_is_not_sent_again(caplog: pytest.LogCaptureFixture) -> None:
    """The end reached the service, its answer did not come back: sent again, it could end the
    call's next session, started meanwhile elsewhere under the same id. Counted and logged instead."""

    def answer(request: Received) -> tuple[int, Any] | Reply:
        if request.method == "DELETE":
            return Reply(200, {"ended": True}, hold=30)  # the client's read times out first
        return 201, {"call_id": "call-lost-end", "expires_at": 1}

    with serving(answer) as stub:
        manager = RemoteSessionManager(stub.url, secret_key="k" * 64, timeout=(1.0, 0.5), outbox_retry_secs=30)
        MADE.append(manager)
        manager.create_session("call-lost-end")
        with caplog.at_level(logging.ERROR, logger="session_client"):
            assert manager.end_session("call-lost-end")
            assert manager.flush(30)
        assert [r.method for r in stub.received] == ["POST", "DELETE"]
    stats = manager.outbox_stats
    assert (stats.sent, stats.unknown, stats.retries) == (1, 1, 0)
    assert "end for call-lost-end: no answer and perhaps done" in caplog.text


def test_an_end_that_could_not_connect_is_sent_again() -> None:
    manager = unreachable(outbox_retry_secs=0.5)
    call_id = manager.create_session()
    manager.flush(30)  # the start given up
    before = manager.outbox_stats.retries
    assert manager.end_session(call_id)
    assert manager.flush(30)
    stats = manager.outbox_stats
    assert stats.retries > before and stats.failed == 2 and stats.unknown == 0


# -- the key read by ARN: never on the caller's thread ----------------------------------------------

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:k"
KEY = "k" * 64


class NotFound(Exception):
    pass


class SlowSecrets:
    """Stands for Secrets Manager: answers once `go` is set, failing the first `fail` reads; records
    the threads that read."""

    exceptions = type("Exceptions", (), {"ResourceNotFoundException": NotFound})

    def __init__(self, fail: int = 0) -> None:
        self.go = threading.Event()
        self.fail = fail
        self.readers: list[threading.Thread] = []

    def get_secret_value(self, SecretId: str, VersionStage: str) -> dict[str, Any]:
        self.readers.append(threading.current_thread())
        assert self.go.wait(30)
        if VersionStage == "AWSPREVIOUS":
            raise NotFound
        if self.fail:
            self.fail -= 1
            raise ClientError({"Error": {"Code": "InternalServiceError", "Message": "down"}}, "GetSecretValue")
        return {"SecretString": KEY, "CreatedDate": datetime.datetime.now(datetime.UTC)}


def by_arn(secrets: SlowSecrets, **options: Any) -> RemoteSessionManager:
    options = {"retries": 0, "timeout": (0.5, 0.5), "outbox_retry_secs": 0.2, **options}
    keys = SecretKeys(ARN, client=secrets, retry_backoff=(0.001, 0.01))
    manager = RemoteSessionManager(f"http://127.0.0.1:{free_port()}", keys=keys, **options)
    MADE.append(manager)
    return manager


def test_until_the_key_is_read_minting_and_checking_fail_at_once_and_no_start_is_queued() -> None:
    """Secrets Manager hangs: every render would wait for it on the agent's event loop. Instead
    each mint fails at once (the render leaves the token out), a check fails closed (the SDK
    refuses the tool call), and no start goes out for tokens never minted."""
    secrets = SlowSecrets()
    manager = by_arn(secrets)
    token = SessionManager(secret_key=KEY).generate_token("f", "call-0")
    for i in range(3):
        with pytest.raises(SessionServiceError) as minting:
            manager.create_tool_token("f", f"call-{i}")
        assert minting.value.code == "keys_unavailable"
        with pytest.raises(SessionServiceError) as checking:
            manager.validate_token("call-0", "f", token)
        assert checking.value.code == "keys_unavailable"
    assert manager.outbox_stats.queued == 0
    secrets.go.set()
    assert manager.ready(30)
    assert manager.validate_token("call-0", "f", manager.create_tool_token("f", "call-0"))
    assert manager.validate_token("call-0", "f", token)
    assert manager.outbox_stats.queued == 1  # the start, once the tokens exist
    assert secrets.readers and threading.current_thread() not in secrets.readers


def test_a_failed_first_read_is_tried_again_in_the_background() -> None:
    secrets = SlowSecrets(fail=3)
    secrets.go.set()
    manager = by_arn(secrets)
    with pytest.raises(SessionServiceError) as minting:
        manager.create_tool_token("f", "call-0")  # starts the read
    assert minting.value.code == "keys_unavailable"
    assert manager.ready(30)
    assert manager.create_tool_token("f", "call-0")
    assert len(secrets.readers) >= 5  # three failed reads of AWSCURRENT, then AWSCURRENT and AWSPREVIOUS
    assert threading.current_thread() not in secrets.readers


# -- a call ended elsewhere, a session full of incarnations -----------------------------------------


def test_create_session_after_an_end_elsewhere_never_revives_the_ended_calls_tokens(
    strict_stack: ServedStack, keyed: Callable[..., RemoteSessionManager], connect: Callable[..., RemoteSessionManager]
) -> None:
    manager, other = keyed(strict_stack), connect(strict_stack.base_url)
    call_id = manager.create_session()
    old = manager.create_tool_token("f", call_id)
    assert manager.flush()
    assert other.check_token(call_id, "f", old) == TokenCheck(True, None)
    assert other.end_session(call_id)  # another instance, the CLI, an operator
    assert manager.create_session(call_id, {"caller": "new call"}) == call_id
    new = manager.create_tool_token("f", call_id)
    assert manager.flush() and manager.outbox_stats.refused == 0
    assert tokens.parse(new).nonce[:8] != tokens.parse(old).nonce[:8]  # type: ignore[union-attr]
    assert other.check_token(call_id, "f", new) == TokenCheck(True, None)
    assert other.check_token(call_id, "f", old) == (False, "session_ended")


def test_a_start_refused_as_retired_leaves_the_call_ended_here(
    strict_stack: ServedStack, keyed: Callable[..., RemoteSessionManager], connect: Callable[..., RemoteSessionManager]
) -> None:
    """The call was ended and started again elsewhere: this manager's next start of the ended call's
    incarnation is refused, and from then on the call is ended here too."""
    now = [time.time()]
    manager, other = keyed(strict_stack, clock=lambda: now[0]), connect(strict_stack.base_url)
    call_id = manager.create_session()
    token = manager.create_tool_token("f", call_id)
    assert manager.flush()
    assert other.end_session(call_id) and other.create_session(call_id) == call_id
    now[0] = time.time() + 3 * 3600  # past what the first start covered: the next mint queues another
    manager.create_tool_token("g", call_id)
    assert manager.flush() and manager.outbox_stats.refused == 1
    assert manager.check_token(call_id, "f", token) == (False, "session_ended")
    with pytest.raises(SessionServiceError) as ended:
        manager.create_tool_token("f", call_id)
    assert ended.value.code == "session_ended"
    assert other.check_token(call_id, "f", token) == (False, "session_ended")


def test_a_start_refused_for_the_incarnation_limit_is_logged_counted_and_not_sent_again(
    strict_stack: ServedStack,
    keyed: Callable[..., RemoteSessionManager],
    connect: Callable[..., RemoteSessionManager],
    caplog: pytest.LogCaptureFixture,
) -> None:
    instances = [keyed(strict_stack) for _ in range(MAX_INCARNATIONS)]  # each joins with its own incarnation
    full = instances[0].create_session()
    for instance in instances[1:]:
        instance.create_tool_token("f", full)
    for instance in instances:
        assert instance.flush() and instance.outbox_stats.sent == 1
        instance.close()
    now = [time.time()]
    manager = keyed(strict_stack, revocation_check=True, clock=lambda: now[0])
    with caplog.at_level(logging.ERROR, logger="session_client"):
        token = manager.create_tool_token("f", full)
        assert manager.flush()
    assert manager.outbox_stats.refused == 1 and manager.unaccepted_calls == 1
    assert any("accepts the most incarnations" in r.getMessage() and full in r.getMessage() for r in caplog.records)
    # What the agent sees: its tokens are minted still, and refused where revocation is checked.
    assert manager.check_token(full, "f", token) == (False, "session_ended")
    now[0] = time.time() + 3 * 3600
    assert manager.create_tool_token("g", full)
    assert manager.flush() and manager.outbox_stats.queued == 1  # no start sent again to be refused again


def test_the_key_is_given_one_way() -> None:
    keys = StaticKeys(KEY)
    with pytest.raises(ValueError, match="one of secret_key, secret_arn and keys"):
        RemoteSessionManager("http://127.0.0.1:9", keys=keys, secret_key=KEY)
    with pytest.raises(ValueError, match="one of secret_key, secret_arn and keys"):
        RemoteSessionManager("http://127.0.0.1:9", keys=keys, secret_arn=ARN)
    with pytest.raises(ValueError, match="one of secret_key, secret_arn and keys"):
        RemoteSessionManager("http://127.0.0.1:9", secret_key=KEY, secret_arn=ARN)
    assert RemoteSessionManager("http://127.0.0.1:9", keys=keys, revocation_check=True).validates_locally
