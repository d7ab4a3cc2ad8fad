"""DynamoSessionStore: the incarnations a session accepts, and an expiry that never moves back.

A client holding the signing key picks its own incarnation for a call and mints tokens with it;
its start has the session take it as its own, or accept it beside others (at most
MAX_INCARNATIONS). Tokens may be minted with lifetimes longer than the session's TTL: the session
lives at least as long as they do, and no later write shortens it.
"""

from __future__ import annotations

from typing import Any

import pytest
from session_core.errors import IncarnationLimit, IncarnationRetired, RestartLimit, SessionEnded, SessionNotFound
from session_core.store import KEYS_PER_UPDATE, Attr, DynamoSessionStore
from session_rules.limits import MAX_INCARNATIONS, MAX_RETIRED_INCARNATIONS

from tests.support.accounts import AwsAccount
from tests.support.clock import Clock
from tests.support.races import other_writer
from tests.support.sessions import existing

TTL = 3600


def raw(aws: AwsAccount, call_id: str) -> dict[str, Any] | None:
    return aws.dynamodb.get_item(TableName=aws.table_name, Key={Attr.KEY: {"S": call_id}}, ConsistentRead=True).get(
        "Item"
    )


def inc(i: int) -> str:
    return f"{i:08x}"


# -- incarnations ---------------------------------------------------------------------------------


def test_a_start_takes_the_clients_incarnation_as_its_own(store: DynamoSessionStore) -> None:
    session, created = store.create("a", {}, TTL, incarnation="0badcafe")
    assert created and session.incarnation == "0badcafe" and session.incarnations == ("0badcafe",)
    assert store.get("a") == session


def test_an_active_session_accepts_more_incarnations_and_keeps_its_own(store: DynamoSessionStore) -> None:
    own = store.create("a", {"x": 1}, TTL)[0].incarnation
    session, created = store.create("a", {}, TTL, incarnation=inc(1), restart=False)
    assert not created and session.incarnation == own
    assert set(session.incarnations) == {own, inc(1)} and session.incarnations[0] == own
    assert store.create("a", {"y": 2}, TTL, incarnation=inc(1))[0].incarnations == session.incarnations  # once
    assert store.create("a", {}, TTL, incarnation=own)[0].incarnations == session.incarnations
    assert existing(store, "a").metadata == {"x": 1, "y": 2}


@pytest.mark.parametrize("keys", [1, KEYS_PER_UPDATE + 1])  # a merge naming its keys, and one writing the whole map
def test_past_the_limit_the_start_is_refused_and_changes_nothing(
    store: DynamoSessionStore, aws: AwsAccount, clock: Clock, keys: int
) -> None:
    store.create("a", {}, TTL, incarnation=inc(0))
    for i in range(1, MAX_INCARNATIONS):
        store.create("a", {}, TTL, incarnation=inc(i))
    assert len(existing(store, "a").incarnations) == MAX_INCARNATIONS
    before = raw(aws, "a")
    clock.advance(60)
    with pytest.raises(IncarnationLimit) as refused:
        store.create("a", {f"k{i}": i for i in range(keys)}, TTL, incarnation=inc(MAX_INCARNATIONS))
    assert (refused.value.status, refused.value.code) == (409, "incarnation_limit")
    assert raw(aws, "a") == before  # not even the expiry moved
    assert store.create("a", {"k": 1}, TTL, incarnation=inc(3))[0].metadata == {"k": 1}  # one it accepts: fine


def test_an_ended_session_refuses_a_start_without_restart_and_starts_afresh_with_it(
    store: DynamoSessionStore, aws: AwsAccount
) -> None:
    store.create("a", {}, TTL, incarnation=inc(1))
    store.create("a", {}, TTL, incarnation=inc(2))
    store.end("a")
    before = raw(aws, "a")
    with pytest.raises(SessionEnded):
        store.create("a", {}, TTL, incarnation=inc(3), restart=False)
    assert raw(aws, "a") == before
    session, created = store.create("a", {}, TTL, incarnation=inc(3))
    assert created and session.incarnations == (inc(3),)  # the ended session's are gone with it


def test_an_expired_session_is_started_with_the_clients_incarnation(store: DynamoSessionStore, clock: Clock) -> None:
    store.create("a", {}, 60, incarnation=inc(1))
    clock.advance(61)
    session, created = store.create("a", {}, TTL, incarnation=inc(2), restart=False)
    assert created and session.incarnations == (inc(2),)


def test_two_writers_near_the_limit_never_pass_it(store: DynamoSessionStore, aws: AwsAccount) -> None:
    """The other adds the last one the session may take between this start's read and its write."""
    store.create("a", {}, TTL, incarnation=inc(0))
    for i in range(1, MAX_INCARNATIONS - 1):
        store.create("a", {}, TTL, incarnation=inc(i))

    def theirs(client: Any) -> None:
        DynamoSessionStore(aws.table_name, client).create("a", {}, TTL, incarnation="ffffffff")

    store.get("a")
    raced = other_writer(aws, lambda name, params: name == "UpdateItem" and "eeeeeeee" in str(params), theirs)
    with pytest.raises(IncarnationLimit):
        store.create("a", {"mine": 1}, TTL, incarnation="eeeeeeee")
    session = existing(store, "a")
    assert raced and len(session.incarnations) == MAX_INCARNATIONS
    assert "ffffffff" in session.incarnations and "eeeeeeee" not in session.incarnations
    assert "mine" not in session.metadata


def test_a_session_started_afresh_since_the_read_refuses_the_ended_ones_incarnation(
    store: DynamoSessionStore, aws: AwsAccount
) -> None:
    """The read saw the incarnation accepted; by the write the call was ended and started again,
    which retired it: a late start of the ended call must not make its tokens valid again."""
    store.create("a", {}, TTL, incarnation=inc(1))

    def churn(client: Any) -> None:
        other = DynamoSessionStore(aws.table_name, client)
        other.end("a")
        other.create("a", {}, TTL, incarnation=inc(2))

    raced = other_writer(aws, lambda name, params: name == "PutItem" and "mine" in str(params), churn)
    with pytest.raises(IncarnationRetired):
        store.create("a", {"mine": 1}, TTL, incarnation=inc(1), restart=False)
    session = existing(store, "a")
    assert raced and session.incarnations == (inc(2),) and "mine" not in session.metadata


# -- incarnations of ended sessions stay retired ---------------------------------------------------


def test_a_restart_naming_the_ended_sessions_incarnation_is_refused_and_changes_nothing(
    store: DynamoSessionStore, aws: AwsAccount
) -> None:
    store.create("a", {}, TTL, incarnation=inc(1), restart=False)
    store.create("a", {}, TTL, incarnation=inc(2), restart=False)
    store.end("a")
    before = raw(aws, "a")
    for retired in (inc(1), inc(2)):
        with pytest.raises(IncarnationRetired) as refused:
            store.create("a", {"k": 1}, TTL, incarnation=retired)
        assert (refused.value.status, refused.value.code) == (409, "incarnation_retired")
        assert raw(aws, "a") == before
    session, created = store.create("a", {}, TTL, incarnation=inc(3))
    assert created and session.incarnations == (inc(3),)


@pytest.mark.parametrize("keys", [1, KEYS_PER_UPDATE + 1])
def test_a_late_start_of_the_ended_call_after_a_restart_is_refused(
    store: DynamoSessionStore, aws: AwsAccount, keys: int
) -> None:
    """The ended call's start, retried late (restart: false), lands on the call id's next session."""
    store.create("a", {}, TTL, incarnation=inc(1), restart=False)
    store.end("a")
    fresh, created = store.create("a", {}, TTL)  # a new call under the id, the service's own incarnation
    assert created and fresh.incarnation != inc(1)
    before = raw(aws, "a")
    with pytest.raises(IncarnationRetired):
        store.create("a", {f"k{i}": i for i in range(keys)}, TTL, incarnation=inc(1), restart=False)
    assert raw(aws, "a") == before
    assert store.create("a", {}, TTL, incarnation=inc(2), restart=False)[0].incarnations == (fresh.incarnation, inc(2))


def test_retired_incarnations_carry_over_restarts_and_keep_the_item_alive(
    store: DynamoSessionStore, aws: AwsAccount, clock: Clock
) -> None:
    first = store.create("a", {}, 24 * 3600, incarnation=inc(1))[0]
    store.end("a")
    second = store.create("a", {}, 60, incarnation=inc(2))[0]
    assert second.expires_at == first.expires_at  # lives as long as inc(1)'s tokens can: TTL must not forget it
    store.end("a")
    clock.advance(120)
    third = store.create("a", {}, 60, incarnation=inc(3))[0]
    assert set(raw(aws, "a")[Attr.RETIRED]["M"]) == {inc(1), inc(2)}  # type: ignore[index]
    store.end("a")
    for retired in (inc(1), inc(2), inc(3)):
        with pytest.raises(IncarnationRetired):
            store.create("a", {}, TTL, incarnation=retired)
    assert third.expires_at == first.expires_at


def test_a_retired_incarnation_is_dropped_once_its_tokens_cannot_be_alive(
    store: DynamoSessionStore, aws: AwsAccount, clock: Clock
) -> None:
    store.create("a", {}, 60, incarnation=inc(1))
    store.end("a")
    store.create("a", {}, 600, incarnation=inc(2))
    clock.advance(61)  # past the ended session's expiry: no token minted under inc(1) is alive
    assert store.create("a", {}, TTL, incarnation=inc(1), restart=False)[0].incarnations == (inc(2), inc(1))
    store.end("a")
    assert set(store.create("a", {}, TTL, incarnation=inc(3))[0].incarnations) == {inc(3)}
    assert set(raw(aws, "a")[Attr.RETIRED]["M"]) == {inc(1), inc(2)}  # type: ignore[index]


def test_a_restart_past_the_retired_bound_is_refused_and_changes_nothing(
    store: DynamoSessionStore, aws: AwsAccount, clock: Clock
) -> None:
    for start in range(MAX_RETIRED_INCARNATIONS // MAX_INCARNATIONS):
        for i in range(MAX_INCARNATIONS):
            store.create("a", {}, TTL, incarnation=inc(start * MAX_INCARNATIONS + i))
        store.end("a")
    assert store.create("a", {}, TTL)[1]  # holds MAX_RETIRED_INCARNATIONS retired now
    store.end("a")
    before = raw(aws, "a")
    with pytest.raises(RestartLimit) as refused:
        store.create("a", {}, TTL, incarnation="ffffffff")
    assert (refused.value.status, refused.value.code) == (409, "restart_limit")
    assert raw(aws, "a") == before
    clock.advance(TTL + 1)  # every ended session's tokens are dead: the id starts afresh
    assert store.create("a", {}, TTL, incarnation=inc(0))[1]


def test_an_incarnation_added_while_the_session_ends_is_never_accepted_after_the_end(
    store: DynamoSessionStore, aws: AwsAccount
) -> None:
    """End races a start adding an incarnation, the end landing between the add's read and write:
    the add is refused, and the call's next session still refuses what the ended one accepted."""
    store.create("a", {}, TTL, incarnation=inc(1))

    def end(client: Any) -> None:
        DynamoSessionStore(aws.table_name, client).end("a")

    raced = other_writer(aws, lambda name, params: name == "UpdateItem" and inc(2) in str(params), end)
    with pytest.raises(SessionEnded):
        store.create("a", {}, TTL, incarnation=inc(2), restart=False)
    assert raced and existing(store, "a").incarnations == (inc(1),)
    store.create("a", {}, TTL, incarnation=inc(3))
    with pytest.raises(IncarnationRetired):
        store.create("a", {}, TTL, incarnation=inc(1), restart=False)


def test_an_end_right_after_an_add_retires_what_was_added(store: DynamoSessionStore, aws: AwsAccount) -> None:
    """The other order: the add is written, then the end, both just before a restart writes."""
    store.create("a", {}, TTL, incarnation=inc(1))

    def add(client: Any) -> None:
        other = DynamoSessionStore(aws.table_name, client)
        other.create("a", {}, TTL, incarnation=inc(2), restart=False)
        other.end("a")

    raced = other_writer(aws, lambda name, params: name == "PutItem" and inc(3) in str(params), add)
    session, created = store.create("a", {}, TTL, incarnation=inc(3))
    assert raced and created and session.incarnations == (inc(3),)
    assert set(raw(aws, "a")[Attr.RETIRED]["M"]) == {inc(1), inc(2)}  # type: ignore[index]


# -- the expiry never moves back ------------------------------------------------------------------


@pytest.mark.parametrize("keys", [1, KEYS_PER_UPDATE + 1])
def test_a_shorter_merge_keeps_a_longer_expiry(store: DynamoSessionStore, clock: Clock, keys: int) -> None:
    long = store.create("a", {}, 24 * 3600)[0].expires_at
    clock.advance(10)
    assert store.merge_metadata("a", {f"k{i}": i for i in range(keys)}, TTL).expires_at == long
    assert store.create("a", {"x": 1}, TTL)[0].expires_at == long
    assert existing(store, "a").expires_at == long
    assert store.merge_metadata("a", {"y": 1}, 24 * 3600).expires_at == long + 10  # a longer one moves it


def test_extend_moves_only_forward_and_only_an_active_session(
    store: DynamoSessionStore, aws: AwsAccount, clock: Clock
) -> None:
    with pytest.raises(SessionNotFound):
        store.extend("absent", int(clock()) + 7200)
    session = store.create("a", {"x": 1}, TTL)[0]
    store.extend("a", session.expires_at + 100)
    assert existing(store, "a").expires_at == session.expires_at + 100
    before = raw(aws, "a")
    store.extend("a", session.expires_at + 50)  # already beyond: nothing written
    assert raw(aws, "a") == before
    store.end("a")
    with pytest.raises(SessionEnded):
        store.extend("a", session.expires_at + 200)
    clock.advance(TTL + 200)
    with pytest.raises(SessionNotFound):
        store.extend("a", int(clock()) + 7200)


def test_a_merge_read_before_an_extension_does_not_undo_it(
    store: DynamoSessionStore, aws: AwsAccount, clock: Clock
) -> None:
    session = store.create("a", {"x": 1}, TTL)[0]
    further = session.expires_at + 5000

    def extend(client: Any) -> None:
        DynamoSessionStore(aws.table_name, client, clock=clock).extend("a", further)

    raced = other_writer(aws, lambda name, _: name == "UpdateItem", extend)
    assert store.merge_metadata("a", {"y": 2}, TTL).expires_at == further
    assert raced and existing(store, "a").expires_at == further
