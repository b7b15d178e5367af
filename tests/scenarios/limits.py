"""Limits under faults: cancelled calls in line, nested waits that would deadlock, raised limits."""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

import unsync as unsync_module
from conftest import RunPython
from unsync import DeadlockError, Limiter, Unfuture, unsync


@pytest.fixture
def made() -> Iterator[list[Unfuture[Any]]]:
    """The calls a test makes inside other calls: all ended and read before the next test.

    After a `DeadlockError` the calls still in line run on, and fail unread;
    logging all those failures from many threads at once trips a CPython
    3.11.7 bug (the ast module's recursion count is not thread-safe, and
    3.11's tracebacks parse source lines) that breaks later compiles.
    """
    calls: list[Unfuture[Any]] = []
    yield calls
    for call in calls:
        with contextlib.suppress(BaseException):
            call.exception(timeout=20)


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """An event that blocking calls wait on; always set at the end, so no test leaves a call blocked."""
    event = threading.Event()
    yield event
    event.set()


def test_cancelled_calls_leave_the_line_at_once(gate: threading.Event) -> None:
    limiter = Limiter(1)

    @unsync(limit=limiter)
    def wait_for_gate() -> str:
        gate.wait(10)
        return "ran"

    first = wait_for_gate()
    waiting = [wait_for_gate() for _ in range(10)]
    assert limiter.waiting == 10
    assert all(future.cancel() for future in waiting)
    assert limiter.waiting == 0
    gate.set()
    assert first.result(timeout=10) == "ran"
    assert all(future.cancelled() for future in waiting)
    assert (limiter.running, limiter.waiting) == (0, 0)


def test_hundreds_of_cancelled_calls_in_line_leave_the_limiter_working(
    gate: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = Limiter(1)

    @unsync(limit=limiter)
    def wait_for_gate(i: int) -> int:
        gate.wait(10)
        return i

    @unsync(limit=limiter)
    async def on_loop(i: int) -> int:
        await anyio.sleep(0)
        return i

    first = wait_for_gate(-1)
    calls = [on_loop(i) if i % 2 else wait_for_gate(i) for i in range(600)]
    for call in calls[::3]:
        call.cancel()
    with caplog.at_level(logging.ERROR, logger="unsync"):
        gate.set()
        assert first.result(timeout=10) == -1
        for i, call in enumerate(calls):
            if i % 3:
                assert call.result(timeout=10) == i
            else:
                assert call.cancelled()
    # Releasing the slot used to recurse once per cancelled call, and die of it.
    assert "RecursionError" not in caplog.text
    assert (limiter.running, limiter.waiting) == (0, 0)


def test_cancelling_a_running_limited_call_is_exact(gate: threading.Event) -> None:
    started = threading.Event()
    cleanups: list[str] = []

    @unsync(limit=1)
    async def sleeper() -> None:
        started.set()
        try:
            await anyio.sleep(3600)
        finally:
            cleanups.append("cleaned")

    @unsync(limit=1)
    def blocking() -> str:
        started.set()
        gate.wait(10)
        return "finished"

    call = sleeper()
    assert started.wait(10)
    assert call.cancel()
    with pytest.raises(concurrent.futures.CancelledError):
        call.result(timeout=10)
    assert cleanups == ["cleaned"]
    started.clear()
    running = blocking()
    assert started.wait(10)
    assert not running.cancel()  # a running thread cannot be interrupted, and says so
    gate.set()
    assert running.result(timeout=10) == "finished"


def test_nested_blocking_calls_under_a_per_function_limit_raise_deadlock_error(made: list[Unfuture[Any]]) -> None:
    @unsync(limit=2)
    def nested(depth: int) -> int:
        if depth == 0:
            return 0
        made.append(inner := nested(depth - 1))
        return inner.result() + 1

    with pytest.raises(DeadlockError, match="would never end"):
        nested(10).result(timeout=20)
    assert nested(1).result(timeout=10) == 1  # the limiter works again


def test_a_limited_coroutine_awaiting_a_nested_call_of_itself_gets_deadlock_error(
    made: list[Unfuture[Any]],
) -> None:
    @unsync(limit=1)
    async def nested(depth: int) -> int:
        if depth == 0:
            return 0
        made.append(inner := nested(depth - 1))
        return await inner + 1

    with pytest.raises(DeadlockError, match="would never end"):
        nested(3).result(timeout=20)
    assert nested(0).result(timeout=10) == 0


def test_a_chain_through_two_shared_limiters_is_a_deadlock_error(made: list[Unfuture[Any]]) -> None:
    outer, inner = Limiter(1), Limiter(1)

    @unsync(limit=outer)
    def first() -> int:
        made.append(call := second())
        return call.result() + 1

    @unsync(limit=inner)
    def second() -> int:
        made.append(call := third())
        return call.result() + 1

    @unsync(limit=outer)
    async def third() -> int:
        return 1

    with pytest.raises(DeadlockError):
        first().result(timeout=20)
    assert third().result(timeout=10) == 1


def test_a_chain_through_an_unlimited_coroutine_is_a_deadlock_error(made: list[Unfuture[Any]]) -> None:
    limiter = Limiter(1)

    @unsync(limit=limiter)
    def holder() -> int:
        made.append(call := middle())
        return call.result() + 1

    @unsync
    async def middle() -> int:
        made.append(call := needs_the_slot())
        return await call + 1

    @unsync(limit=limiter)
    async def needs_the_slot() -> int:
        return 1

    with pytest.raises(DeadlockError):
        holder().result(timeout=20)
    assert needs_the_slot().result(timeout=10) == 1


def test_waiting_on_a_call_that_another_holder_will_free_is_no_deadlock() -> None:
    @unsync(limit=1)
    def outer() -> int:
        return inner().result() + 1

    @unsync(limit=1)
    def inner() -> int:
        time.sleep(0.05)
        return 1

    # Each outer call waits for a call of another limiter, which frees itself.
    assert [call.result(timeout=20) for call in [outer() for _ in range(4)]] == [2] * 4


def test_a_limited_coroutine_may_await_calls_that_need_no_slot_of_its_own() -> None:
    limiter = Limiter(1)

    @unsync
    async def helper(n: int) -> int:
        await anyio.sleep(0.01)
        return n * 2

    @unsync(limit=limiter)
    async def outer(n: int) -> int:
        # Awaited while this call holds the only slot: watched for a deadlock, and there is none.
        return await helper(n) + 1

    assert [call.result(timeout=20) for call in [outer(n) for n in range(3)]] == [1, 3, 5]


def test_raising_a_limiters_total_starts_waiting_calls_at_once(gate: threading.Event) -> None:
    limiter = Limiter(1)

    @unsync(limit=limiter)
    def long() -> str:
        gate.wait(10)
        return "long"

    @unsync(limit=limiter)
    async def short(i: int) -> int:
        return i

    first = long()
    waiting = [short(i) for i in range(5)]
    limiter.total = 10
    assert [call.result(timeout=5) for call in waiting] == list(range(5))
    assert not first.done()
    gate.set()
    assert first.result(timeout=10) == "long"


def test_bad_totals_are_value_errors() -> None:
    limiter = Limiter(2)
    for bad in (0, -1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="at least 1"):
            limiter.total = bad  # type: ignore[assignment]
    assert limiter.total == 2


def test_the_default_thread_pools_limit_detects_nested_blocking_and_can_be_raised(
    run_python: RunPython, anyio_backend: str
) -> None:
    # In a fresh interpreter: the pool is the process's, and its threads must be only these.
    proc = run_python(
        f"""
        import threading
        import unsync
        from unsync import DeadlockError, unsync as decorator
        unsync.use_backend({anyio_backend!r})
        gate = threading.Event()

        @decorator
        def nested(depth):
            if depth == 0:
                return 0
            return nested(depth - 1).result() + 1

        @decorator
        def long():
            gate.wait(30)
            return "long"

        @decorator
        def short(i):
            return i

        unsync.thread_limit = 2
        try:
            nested(10).result(timeout=20)
        except DeadlockError as exc:
            print("DeadlockError")
        unsync.thread_limit = 1
        first = long()
        waiting = [short(i) for i in range(5)]
        unsync.thread_limit = 10
        print([call.result(timeout=10) for call in waiting], first.done())
        gate.set()
        print(first.result(timeout=10))
        """,
        timeout=60,
    )
    assert proc.stdout.splitlines() == ["DeadlockError", "[0, 1, 2, 3, 4] False", "long"]


@unsync(cpu_bound=True)
def sleep_in_a_process(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_raising_the_process_limit_starts_waiting_cpu_bound_calls_at_once() -> None:
    before = unsync_module.process_limit
    try:
        unsync_module.process_limit = 1
        long = sleep_in_a_process(60)
        while not long.running():
            time.sleep(0.01)
        waiting = [sleep_in_a_process(0) for _ in range(3)]
        time.sleep(0.5)  # they reach the pool, and wait there for a worker
        unsync_module.process_limit = 4
        # Each needs a new worker process: slow to start on a busy machine, but not a minute.
        assert [call.result(timeout=30) for call in waiting] == [0, 0, 0]
        assert not long.done(), long
        assert long.cancel()  # ends its worker
    finally:
        unsync_module.process_limit = before
