"""Blocking work in threads: context, calls back into the loop, and limits."""

from __future__ import annotations

import contextvars
import threading
import time

import anyio
import anyio.from_thread
import pytest

from process_watching import wait_until
from unsync import DeadlockError, Limiter, unsync

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


@unsync
def read_request_id() -> str:
    return request_id.get()


@unsync
async def loop_value(x: int) -> int:
    await anyio.sleep(0)
    return x * 10


def test_the_callers_contextvars_are_visible_in_the_worker() -> None:
    token = request_id.set("req-42")
    try:
        assert read_request_id().result() == "req-42"
    finally:
        request_id.reset(token)
    assert read_request_id().result() == "none"


def test_a_worker_can_call_back_into_the_ambient_loop() -> None:
    @unsync
    def blocking_then_async() -> tuple[int, list[int]]:
        via_unsync = loop_value(1).result()
        via_anyio = [anyio.from_thread.run(loop_value.__wrapped__, n, token=unsync.token) for n in (2, 3)]
        return via_unsync, via_anyio

    assert blocking_then_async().result() == (10, [20, 30])


class Concurrency:
    """Counts how many calls run at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


def test_a_per_function_limit_bounds_concurrency() -> None:
    seen = Concurrency()
    released = threading.Event()

    @unsync(limit=2)
    def limited(i: int) -> int:
        with seen:
            released.wait(10)
        return i

    # No call ends before the event is set: a call that waited for room
    # would return only when the wait of an earlier one timed out.
    futures = [limited(i) for i in range(8)]
    assert not any(f.done() for f in futures)
    wait_until(lambda: seen.now == 2, "the first two calls never started", timeout=10)
    time.sleep(0.05)  # room for a third call, were the limit not kept
    assert seen.now == 2
    released.set()
    assert [f.result(timeout=30) for f in futures] == list(range(8))
    assert seen.peak == 2


def test_waiting_calls_start_in_the_order_they_were_made() -> None:
    order: list[int] = []

    @unsync(limit=1)
    def one_at_a_time(i: int) -> None:
        order.append(i)

    for future in [one_at_a_time(i) for i in range(20)]:
        future.result()
    assert order == list(range(20))


def test_a_shared_limiter_bounds_several_functions_and_async_ones_too() -> None:
    seen = Concurrency()
    shared = Limiter(1)

    @unsync(limit=shared)
    def in_thread() -> None:
        with seen:
            time.sleep(0.02)

    @unsync(limit=shared)
    async def on_loop() -> None:
        with seen:
            await anyio.sleep(0.02)

    futures = [in_thread(), on_loop(), in_thread(), on_loop()]
    for future in futures:
        future.result()
    assert seen.peak == 1
    assert shared.running == 0
    assert shared.waiting == 0


def test_a_waiting_call_can_be_cancelled() -> None:
    release = threading.Event()

    @unsync(limit=1)
    def gate() -> str:
        release.wait(5)
        return "ran"

    first, second = gate(), gate()
    assert second.cancel()
    release.set()
    assert first.result() == "ran"
    assert second.cancelled()


def test_blocking_on_a_call_queued_behind_yourself_is_a_deadlock_error() -> None:
    @unsync(limit=1)
    def recursive(depth: int) -> int:
        if depth == 0:
            return 0
        return recursive(depth - 1).result() + 1

    with pytest.raises(DeadlockError, match="Limiter"):
        recursive(1).result()
    assert recursive(0).result() == 0  # the limiter is free again


def test_bad_limits_are_value_errors() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="at least 1"):
            unsync(limit=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="at least 1"):
            unsync.thread_limit = bad  # type: ignore[assignment]
