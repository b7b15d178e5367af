"""What ``Unfuture.cancel()`` does to work that has already started.

Both backends follow ``asyncio.Task`` semantics for coroutines: cancelling
only *requests* cancellation, so a coroutine that catches it decides the
outcome. Thread work cannot be interrupted once it runs.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time

import anyio
import pytest

from scenarios.awaiting import make_cancellable
from unsync import Unfuture, unsync


def test_a_coroutine_that_swallows_cancellation_keeps_its_return_value_and_later_calls_run() -> None:
    started = threading.Event()

    @unsync
    async def stubborn() -> str:
        started.set()
        try:
            await anyio.sleep(3600)
        except anyio.get_cancelled_exc_class():
            return "finished anyway"
        return "not cancelled"

    job = stubborn()
    assert started.wait(5)
    assert job.cancel()  # the request is accepted...
    assert job.result(timeout=5) == "finished anyway"  # ...but the coroutine chose to return
    assert not job.cancelled()
    # The cancellation ended with that call: the calls after it are not cancelled.
    later = [nap(0.02) for _ in range(5)]
    assert [call.result(timeout=5) for call in later] == ["rested"] * 5


def test_running_thread_work_cannot_be_cancelled() -> None:
    running, release = threading.Event(), threading.Event()

    @unsync
    def blocking() -> str:
        running.set()
        release.wait(5)
        return "ran to the end"

    job = blocking()
    assert running.wait(5)
    assert not job.cancel()
    release.set()
    assert job.result(timeout=5) == "ran to the end"
    assert not job.cancelled()


@unsync
async def nap(seconds: float) -> str:
    await anyio.sleep(seconds)
    return "rested"


def test_a_cancellation_reaches_only_its_own_call() -> None:
    # The machinery that runs a call may run the next one too (trio reuses
    # its tasks): cancelling one call must not touch the calls after it.
    for _ in range(3):
        started, cleaned_up, doomed = make_cancellable()
        assert started.wait(5)
        assert doomed.cancel()
        assert cleaned_up.wait(5)
        assert _wait_cancelled(doomed)
        assert nap(0).result(timeout=5) == "rested"
        assert nap(0.02).result(timeout=5) == "rested"


def test_cancelling_a_running_coroutine_while_the_loop_is_stuck_in_blocking_code_answers_once_it_is_free() -> None:
    started, cleaned_up, job = make_cancellable()
    blocking = threading.Event()

    @unsync
    async def blocks_the_loop() -> None:
        blocking.set()
        time.sleep(0.3)  # longer than cancel() waits between looks at the loop's thread

    assert started.wait(5)
    stuck = blocks_the_loop()
    assert blocking.wait(5)
    assert job.cancel()
    assert cleaned_up.wait(5) and _wait_cancelled(job)
    assert stuck.done()  # the answer came once the loop had run the cancellation


def test_a_call_cancelled_before_it_starts_never_runs() -> None:
    ran, holding_the_loop, gate = threading.Event(), threading.Event(), threading.Event()

    @unsync
    async def blocker() -> None:
        holding_the_loop.set()
        gate.wait(5)  # blocks the loop on purpose, so the next call stays queued

    @unsync
    async def never() -> None:
        ran.set()

    holding = blocker()
    assert holding_the_loop.wait(5)
    queued = never()
    assert queued.cancel()
    gate.set()
    holding.result(timeout=5)
    assert nap(0).result(timeout=5) == "rested"
    assert queued.cancelled() and not ran.is_set()


def test_a_call_cancelled_by_the_task_that_made_it_before_it_starts_never_runs() -> None:
    ran: list[str] = []

    @unsync
    async def never() -> None:
        ran.append("ran")

    @unsync
    async def call_and_cancel_at_once(then_await: bool) -> tuple[bool, bool]:
        call = never()
        accepted = call.cancel()
        if then_await:
            with pytest.raises((concurrent.futures.CancelledError, anyio.get_cancelled_exc_class())):
                await call
        else:
            await anyio.sleep(0.01)
        return accepted, call.cancelled()

    assert call_and_cancel_at_once(then_await=False).result(timeout=5) == (True, True)
    assert call_and_cancel_at_once(then_await=True).result(timeout=5) == (True, True)
    assert ran == []
    assert nap(0).result(timeout=5) == "rested"


def _wait_cancelled(future: Unfuture[None]) -> bool:
    with pytest.raises(concurrent.futures.CancelledError):
        future.result(timeout=5)
    return future.cancelled()
