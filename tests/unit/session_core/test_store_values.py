"""DynamoSessionStore on moto: values come back exactly as sent; concurrent writers lose nothing,
never pass the 64 KiB limit together and never undo each other."""

from __future__ import annotations

import itertools
import math
import os
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from session_core.config import CLIENT_CONFIG
from session_core.errors import IncarnationLimit, MetadataTooLarge, SessionBusy, SessionEnded
from session_core.store import KEYS_PER_UPDATE, DynamoSessionStore, metadata_size
from session_rules.limits import MAX_INCARNATIONS, MAX_METADATA_BYTES, MAX_RETIRED_INCARNATIONS

from local.aws import provision
from local.moto_server import MotoServer
from tests.support.clock import Clock
from tests.support.sessions import existing
from tests.support.threads import run_together

TTL = 3600
EXACT = {
    "int": 1,
    "float": 1.0,
    "huge_float": 1e300,
    "tiny_float": 5e-324,
    "negative_zero": -0.0,
    "big_int": 2**64 + 1,
    "big_negative": -(2**70),
    "unicode": "通話 ✓ ü 📞",
    "ключ": "значение",
    "escapes": 'quote " backslash \\ newline \n tab \t nul \x00',
    "nested": {"a": [1, 2.5, {"b": None, "c": [True, False]}], "d": {"e": {}}},
    "null": None,
    "true": True,
    "false": False,
    "empty_list": [],
    "empty_object": {},
    "empty_string": "",
    "k.with.dots": "dots in keys are fine",
    "#md.k": ":v",
}


def same(a: Any, b: Any) -> bool:
    """Equal and of the same JSON type all the way down (1 is not 1.0, -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def test_same_is_strict() -> None:
    assert same(EXACT, dict(EXACT))
    assert not same(1, 1.0) and not same(0.0, -0.0) and not same(True, 1) and not same([1], [1.0])


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"]), max_size=10), children, max_size=5)
    ),
    max_leaves=15,
)
metadata_objects = st.dictionaries(
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=128), json_values, max_size=6
)
call_ids = (f"call-{i}" for i in itertools.count())


@settings(
    max_examples=max(settings().max_examples // 2, 1),  # four moto calls per example
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # each example uses a new call id
)
@given(first=metadata_objects, second=metadata_objects)
@example(first=EXACT, second={"int": 1.0, "float": 1, "negative_zero": 0.0})
def test_values_round_trip_exactly(store: DynamoSessionStore, first: dict[str, Any], second: dict[str, Any]) -> None:
    call_id = next(call_ids)
    created, _ = store.create(call_id, first, TTL)  # PutItem
    assert same(created.metadata, first)
    assert same(existing(store, call_id).metadata, first)
    merged = store.merge_metadata(call_id, second, TTL)  # UpdateItem, key by key
    assert same(merged.metadata, {**first, **second})
    assert same(existing(store, call_id).metadata, {**first, **second})


# -- concurrency -------------------------------------------------------------------------------
#
# moto's in-process backend (and its ThreadedMotoServer) applies concurrent requests at the same
# time, without DynamoDB's per-item atomicity ("dictionary changed size during iteration"). So
# these tests run moto's server with one request at a time: each conditional write is then atomic,
# as DynamoDB makes it, while the store's threads still interleave between their requests.

THREADS = 8
# moto re-serializes the whole (growing) item for every merge's ALL_OLD, so the count stays modest.
KEYS_PER_THREAD = 50 if os.environ.get("SOAK") == "full" else 15


@pytest.fixture
def serial_store(clock: Clock) -> Iterator[DynamoSessionStore]:
    """A DynamoSessionStore on a moto server that serves one request at a time, on a free local port."""
    with MotoServer() as moto:
        # The service's retries, but a test-machine read timeout: 8 threads queue at one serial server.
        config = Config(**{**CLIENT_CONFIG, "read_timeout": 10})
        dynamodb = boto3.client("dynamodb", endpoint_url=moto.endpoint, config=config)
        secrets = boto3.client("secretsmanager", endpoint_url=moto.endpoint)
        made = provision(dynamodb, secrets, stage=f"serial-{uuid.uuid4().hex[:8]}")
        yield DynamoSessionStore(made.table_name, dynamodb, clock=clock)
        requests.post(f"{moto.endpoint}/moto-api/reset", timeout=5)  # moto's backends are per process


def test_concurrent_merges_into_one_session_lose_nothing(serial_store: DynamoSessionStore) -> None:
    store = serial_store
    store.create("shared", {"seed": 0}, TTL)
    start = threading.Barrier(THREADS)

    def writer(t: int) -> None:
        start.wait()
        for i in range(KEYS_PER_THREAD):
            store.merge_metadata("shared", {f"t{t}-k{i}": [t, i]}, TTL)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(writer, range(THREADS)))
    expected = {"seed": 0} | {f"t{t}-k{i}": [t, i] for t in range(THREADS) for i in range(KEYS_PER_THREAD)}
    assert existing(store, "shared").metadata == expected


def test_concurrent_first_writes_start_one_session(serial_store: DynamoSessionStore) -> None:
    """Many creates and PATCHes of a session that does not exist yet: one starts it, all keys land."""
    store = serial_store
    start = threading.Barrier(THREADS)

    def writer(t: int) -> bool:
        start.wait()
        if t % 2:
            store.merge_metadata("new", {f"patch-{t}": t}, TTL)
            return False
        return bool(store.create("new", {f"create-{t}": t}, TTL)[1])

    with ThreadPoolExecutor(THREADS) as pool:
        created = list(pool.map(writer, range(THREADS)))
    metadata = existing(store, "new").metadata
    assert sum(created) <= 1  # a PATCH may have started it; never two creates
    assert metadata == {f"create-{t}" if t % 2 == 0 else f"patch-{t}": t for t in range(THREADS)}


def test_concurrent_near_limit_merges_never_pass_64_kib(serial_store: DynamoSessionStore) -> None:
    """8 writers, each adding distinct 20 KB values: whatever order, the limit holds and every answer is true."""
    store = serial_store
    store.create("full", {"seed": 0}, TTL)

    def writer(t: int) -> list[tuple[str, bool]]:
        outcomes = []
        for i in range(3):
            key = f"t{t}-{i}"
            try:
                store.merge_metadata("full", {key: f"{t}" * 20_000}, TTL)
                outcomes.append((key, True))
            except MetadataTooLarge:
                outcomes.append((key, False))
        return outcomes

    outcomes = [o for per_thread in run_together(THREADS, writer) for o in per_thread]
    metadata = existing(store, "full").metadata
    assert metadata_size(metadata) <= MAX_METADATA_BYTES
    accepted = {key for key, ok in outcomes if ok}
    assert set(metadata) == {"seed"} | accepted  # every 200 is there, every 413 left nothing
    assert len(accepted) == 3  # 64 KiB holds three 20 KB values, and something took the room
    assert all(metadata[key] == key.split("-")[0][1:] * 20_000 for key in accepted)


def test_refused_merges_never_revert_an_acknowledged_key(serial_store: DynamoSessionStore) -> None:
    """One writer sets `x` again and again; others keep trying merges that touch `x` and are always 413."""
    store = serial_store
    store.create("s", {"base": "b" * 40_000, "x": "start"}, TTL)
    rounds = 30

    def work(t: int) -> list[str]:
        seen = []
        for i in range(rounds):
            if t == 0:
                store.merge_metadata("s", {"x": f"a-{i}"}, TTL)
                seen.append(existing(store, "s").metadata["x"])  # its own write, until it writes again
            else:
                with pytest.raises(MetadataTooLarge):
                    store.merge_metadata("s", {"x": f"refused-{t}", "pad": "p" * 30_000}, TTL)
        return seen

    seen = run_together(4, work)[0]
    assert seen == [f"a-{i}" for i in range(rounds)]
    assert existing(store, "s").metadata == {"base": "b" * 40_000, "x": f"a-{rounds - 1}"}


def test_concurrent_whole_map_merges_lose_nothing(serial_store: DynamoSessionStore) -> None:
    """Merges of more keys than one expression names: the version condition serializes them."""
    store = serial_store
    store.create("wide", {}, TTL)

    def writer(t: int) -> None:
        for i in range(3):
            store.merge_metadata("wide", {f"t{t}-r{i}-k{k}": k for k in range(KEYS_PER_UPDATE + 10)}, TTL)

    run_together(4, writer)
    expected = {f"t{t}-r{i}-k{k}": k for t in range(4) for i in range(3) for k in range(KEYS_PER_UPDATE + 10)}
    assert existing(store, "wide").metadata == expected


def test_create_racing_end_always_resolves(serial_store: DynamoSessionStore) -> None:
    """Threads alternating create and end on one id: a create starts or merges, or (documented) SessionBusy."""
    store = serial_store
    rounds = MAX_RETIRED_INCARNATIONS // THREADS  # every start retires the earlier ones: within the bound
    busy: list[str] = []

    def work(t: int) -> list[tuple[str, bool]]:
        started = []
        for i in range(rounds):
            for _attempt in range(3):  # SessionBusy is a 503 that says "retry shortly": a client retries
                try:
                    session, created = store.create("race", {f"t{t}": i}, TTL)
                    break
                except SessionBusy:
                    busy.append(f"{t}-{i}")
            else:
                pytest.fail("three SessionBusy in a row")
            assert not session.ended and session.metadata.get(f"t{t}") == i
            started.append((session.incarnation, created))
            store.end("race")
        return started

    outcomes = [o for per_thread in run_together(THREADS, work) for o in per_thread]
    assert len(outcomes) == THREADS * rounds
    starts = [incarnation for incarnation, created in outcomes if created]
    assert len(set(starts)) == len(starts)  # each start its own incarnation
    assert {incarnation for incarnation, _ in outcomes} == set(starts)  # every merge went into a started one
    final = existing(store, "race")
    assert final is None or final.ended or final.incarnation in starts
    print(f"\n{len(starts)} starts among {len(outcomes)} creates; {len(busy)} SessionBusy retried")


def test_concurrent_starts_with_incarnations_never_pass_the_limit(serial_store: DynamoSessionStore) -> None:
    """Instances holding the key each add their own incarnation to one session near its limit."""
    store = serial_store
    store.create("near", {}, TTL, incarnation=f"{0:08x}")
    for i in range(1, MAX_INCARNATIONS - 3):
        store.create("near", {}, TTL, incarnation=f"{i:08x}")

    def start(t: int) -> bool:
        try:
            store.create("near", {f"t{t}": t}, TTL, incarnation=f"{0xA0 + t:08x}", restart=False)
        except IncarnationLimit:
            return False
        return True

    accepted = run_together(THREADS, start)
    session = existing(store, "near")
    assert sum(accepted) == 3 and len(session.incarnations) == MAX_INCARNATIONS
    added = {f"{0xA0 + t:08x}" for t in range(THREADS) if accepted[t]}
    assert added <= set(session.incarnations)
    assert set(session.metadata) == {f"t{t}" for t in range(THREADS) if accepted[t]}  # a refusal wrote nothing


def test_a_start_with_an_incarnation_racing_end_leaves_a_consistent_session(serial_store: DynamoSessionStore) -> None:
    """A client's start (restart: false) against an end of the same call: started, merged or refused, never half."""
    store = serial_store
    for round_ in range(10):
        call_id = f"race-{round_}"
        if round_ % 2:
            store.create(call_id, {}, TTL)  # already active: the start merges, or meets the end
        mine = f"{round_:08x}"

        def work(t: int, call_id: str = call_id, mine: str = mine) -> Any:
            if t == 0:
                return store.end(call_id)
            try:
                return store.create(call_id, {"mine": 1}, TTL, incarnation=mine, restart=False)
            except SessionEnded:
                return "refused"

        ended, started = run_together(2, work)
        final = existing(store, call_id)
        if started == "refused":  # the end came first and the start changed nothing
            assert ended and final.ended and final.metadata == {}
        elif final.ended:  # the start came first, then the end
            assert ended and final.metadata == {} and mine in final.incarnations
        else:  # the end found nothing active to end, then the start
            assert not ended and mine in final.incarnations and final.metadata == {"mine": 1}
