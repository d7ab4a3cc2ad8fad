"""The worker pool: one event at a time per worker, clean environments, failures replace the worker."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local import aws, template
from local.lambda_pool import FunctionPool, InvokeError, PoolBusy, PoolClosed, function_env
from local.template import Function

ENDPOINT = "http://127.0.0.1:9"  # nothing listens: these handlers never call AWS
MakePool = Callable[..., FunctionPool]  # the make_pool fixture: a pool over a fake function, closed after the test


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def make_pool(make_function: Callable[..., Function]) -> Iterator[MakePool]:
    pools: list[FunctionPool] = []

    def build(fn: Function | None = None, timeout: float = 5.0, max_workers: int = 2, **kwargs: Any) -> FunctionPool:
        fn = dataclasses.replace(fn or make_function(), timeout=timeout)
        pool = FunctionPool(fn, function_env(fn, ENDPOINT), max_workers=max_workers, **kwargs)
        pools.append(pool)
        return pool

    yield build
    for pool in pools:
        pool.close()


def test_runs_the_handler_with_a_lambda_context(make_pool: MakePool) -> None:
    pool = make_pool()
    result = pool.invoke({"action": "echo", "n": 1})
    assert result["event"] == {"action": "echo", "n": 1}
    assert result["function"] == "EchoFunction"
    assert result["cwd"] == str(pool.fn.code_dir)  # Lambda runs in the code folder (/var/task)
    assert 0 < result["remaining_ms"] <= 5000


def test_a_warm_worker_is_reused(make_pool: MakePool) -> None:
    pool = make_pool()
    first, second = pool.invoke({}), pool.invoke({})
    assert first["pid"] == second["pid"]
    assert pool.size == 1


def test_what_the_handler_prints_goes_to_the_log_not_the_protocol(make_pool: MakePool) -> None:
    lines: list[str] = []
    pool = make_pool(log=lines.append)
    result = pool.invoke({"action": "print"})
    assert result["event"] == {"action": "print"}  # not the forged {"result": "forged"}
    pool.close()  # flushes the log pump
    log = "\n".join(lines)
    assert "[echo] not a protocol line" in log
    assert "[echo] raw fd 1 write" in log
    assert '{"result": "forged"}' in log


def test_an_exception_is_reported_and_the_worker_replaced(make_pool: MakePool) -> None:
    lines: list[str] = []
    pool = make_pool(log=lines.append)
    before = pool.invoke({})["pid"]
    with pytest.raises(InvokeError) as failed:
        pool.invoke({"action": "raise"})
    assert failed.value.error == {"errorType": "ValueError", "errorMessage": "boom"}
    assert not alive(before)
    after = pool.invoke({})["pid"]
    assert after != before
    assert pool.size == 1
    pool.close()
    assert any("ValueError: boom" in line for line in lines)  # the traceback is logged, as in CloudWatch


def test_a_crashed_worker_is_replaced(make_pool: MakePool) -> None:
    pool = make_pool()
    before = pool.invoke({})["pid"]
    with pytest.raises(InvokeError) as failed:
        pool.invoke({"action": "exit"})
    assert failed.value.error["errorType"] == "Runtime.ExitError"
    assert "3" in failed.value.error["errorMessage"]
    after = pool.invoke({})
    assert after["pid"] != before
    assert pool.size == 1


def test_a_timed_out_worker_is_killed(make_pool: MakePool) -> None:
    pool = make_pool(timeout=0.5, max_workers=1)
    pid = pool.invoke({})["pid"]
    with pytest.raises(InvokeError) as failed:
        pool.invoke({"action": "sleep", "secs": 30})
    assert failed.value.error["errorType"] == "Sandbox.Timedout"
    assert not alive(pid)
    assert pool.invoke({})["pid"] != pid


def test_a_result_that_is_not_json_is_an_error(make_pool: MakePool) -> None:
    with pytest.raises(InvokeError) as failed:
        make_pool().invoke({"action": "unserializable"})
    assert failed.value.error["errorType"] == "Runtime.MarshalError"


def test_an_import_failure_is_an_init_error(make_pool: MakePool, make_function: Callable[..., Function]) -> None:
    pool = make_pool(make_function("broken", source="raise RuntimeError('bad init')\n"))
    with pytest.raises(InvokeError) as failed:
        pool.invoke({})
    assert failed.value.error == {"errorType": "RuntimeError", "errorMessage": "bad init"}
    assert pool.size == 0


def test_each_function_gets_its_own_clean_environment(
    make_pool: MakePool, make_function: Callable[..., Function], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONLY_IN_THE_CALLER", "leak")
    pool = make_pool(make_function(env={"FROM_TEMPLATE": "yes"}))
    names = [
        "ONLY_IN_THE_CALLER",
        "FROM_TEMPLATE",
        "AWS_ENDPOINT_URL",
        "AWS_LAMBDA_FUNCTION_NAME",
        "POWERTOOLS_TRACE_DISABLED",
        "AWS_ACCESS_KEY_ID",
        "AWS_REGION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    ]
    env = pool.invoke({"action": "env", "names": names})
    assert env == {
        "ONLY_IN_THE_CALLER": None,
        "FROM_TEMPLATE": "yes",
        "AWS_ENDPOINT_URL": ENDPOINT,
        "AWS_LAMBDA_FUNCTION_NAME": "EchoFunction",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
    }


def test_concurrent_events_run_on_separate_workers_up_to_the_limit(make_pool: MakePool) -> None:
    pool = make_pool(max_workers=2)
    results: list[dict[str, Any]] = []
    threads = [
        threading.Thread(target=lambda: results.append(pool.invoke({"action": "sleep", "secs": 0.3}))) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3
    assert len({r["pid"] for r in results}) == 2
    assert pool.size == 2


def test_a_request_that_finds_every_worker_busy_gives_up(make_pool: MakePool) -> None:
    pool = make_pool(max_workers=1, wait_secs=0.2)
    pool.invoke({})  # warm
    busy = threading.Thread(target=pool.invoke, args=({"action": "sleep", "secs": 1.5},))
    busy.start()
    try:
        with pytest.raises(PoolBusy):
            # Started while the only worker sleeps: it cannot get one within 0.2 s.
            threading.Event().wait(0.1)
            pool.invoke({})
    finally:
        busy.join()


def test_close_stops_every_worker(make_pool: MakePool) -> None:
    pool = make_pool()
    pid = pool.invoke({})["pid"]
    pool.close()
    assert not alive(pid)
    with pytest.raises(PoolClosed):
        pool.invoke({})


def test_limits_and_environment_come_from_the_template() -> None:
    functions = template.functions({aws.TABLE_ID: "the-table", aws.SECRET_ID: "the-secret"})
    props = template.load()["Resources"]["CleanupFunction"]["Properties"]
    assert functions["cleanup"].timeout == float(props["Timeout"])
    globals_ = template.load()["Globals"]["Function"]
    assert (functions["validate"].timeout, functions["validate"].memory) == (
        float(globals_["Timeout"]),
        int(globals_["MemorySize"]),
    )
    env = function_env(functions["validate"], ENDPOINT)
    assert env["TABLE_NAME"] == "the-table"
    assert env["SIGNING_SECRET_ID"] == "the-secret"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "ValidateFunction"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == str(globals_["MemorySize"])
