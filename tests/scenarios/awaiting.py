"""Awaiting an Unfuture from loops other than the ambient one.

The ambient loop runs in its own thread; these tests await from the user's
own ``asyncio.run`` and ``trio.run`` loops in the main thread, whichever
backend the ambient loop uses.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import random
import sys
import threading
import time

import anyio
import pytest
import trio

from scenarios.cpu_work import sum_of_squares
from unsync import Unfuture, unsync


@unsync
async def echo_later(value: str, delay: float = 0.05) -> str:
    await anyio.sleep(delay)
    return value


@unsync
def echo_in_thread(value: str) -> str:
    time.sleep(0.01)
    return value


def make_cancellable() -> tuple[threading.Event, threading.Event, Unfuture[None]]:
    """A long coroutine that reports when it starts and when its cleanup ran."""
    started, cleaned_up = threading.Event(), threading.Event()

    @unsync
    async def long_job() -> None:
        started.set()
        try:
            await anyio.sleep(3600)
        finally:
            cleaned_up.set()

    return started, cleaned_up, long_job()


def test_await_from_asyncio_run_in_the_main_thread() -> None:
    async def main() -> list[str]:
        completed_elsewhere: Unfuture[str] = Unfuture()
        threading.Timer(0.02, completed_elsewhere.set_result, args=("timer",)).start()
        return [
            await echo_later("async"),
            await echo_in_thread("thread"),
            str(await sum_of_squares(3)),
            await completed_elsewhere,
        ]

    assert asyncio.run(main()) == ["async", "thread", "5", "timer"]


def test_await_from_trio_run_in_the_main_thread() -> None:
    async def main() -> list[str]:
        return [await echo_later("async"), await echo_in_thread("thread"), str(await sum_of_squares(3))]

    assert trio.run(main) == ["async", "thread", "5"]


def test_asyncio_gather_and_wait_for() -> None:
    async def main() -> tuple[list[str], float]:
        start = time.perf_counter()
        gathered = await asyncio.gather(*(echo_later(str(i), 0.3) for i in range(10)))
        return gathered, time.perf_counter() - start

    gathered, elapsed = asyncio.run(main())
    assert gathered == [str(i) for i in range(10)]
    assert elapsed < 1.5  # one after the other: 3 s

    async def too_slow() -> None:
        await asyncio.wait_for(echo_later("late", 5), timeout=0.05)

    with pytest.raises(TimeoutError):
        asyncio.run(too_slow())


def test_trio_nursery_and_move_on_after() -> None:
    async def main() -> tuple[list[str], bool]:
        results: list[str] = []

        async def collect(value: str) -> None:
            results.append(await echo_later(value, 0.1))

        async with trio.open_nursery() as nursery:
            for i in range(10):
                nursery.start_soon(collect, str(i))
        with trio.move_on_after(0.05) as scope:
            await echo_later("late", 5)
        return sorted(results), scope.cancelled_caught

    results, timed_out = trio.run(main)
    assert results == sorted(str(i) for i in range(10))
    assert timed_out


def test_a_cancelled_asyncio_awaiter_cancels_the_work() -> None:
    started, cleaned_up, job = make_cancellable()

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(job, timeout=0.1)

    asyncio.run(main())
    assert started.is_set()
    assert cleaned_up.wait(5)
    with pytest.raises(concurrent.futures.CancelledError):
        job.result(timeout=5)


def test_a_cancelled_trio_awaiter_cancels_the_work() -> None:
    started, cleaned_up, job = make_cancellable()

    async def main() -> None:
        with trio.move_on_after(0.1):
            await job

    trio.run(main)
    assert started.is_set()
    assert cleaned_up.wait(5)
    with pytest.raises(concurrent.futures.CancelledError):
        job.result(timeout=5)


def test_a_cancelled_unfuture_raises_cancelled_error_in_the_awaiter() -> None:
    cancelled: Unfuture[int] = Unfuture()
    cancelled.cancel()

    async def under_asyncio() -> None:
        with pytest.raises(asyncio.CancelledError):
            await cancelled

    async def under_trio() -> None:
        with pytest.raises(concurrent.futures.CancelledError):
            await cancelled

    asyncio.run(under_asyncio())
    trio.run(under_trio)


def test_exceptions_reach_the_foreign_awaiter() -> None:
    @unsync
    async def broken() -> None:
        raise LookupError("nothing here")

    async def main() -> None:
        with pytest.raises(LookupError, match="nothing here"):
            await broken()

    asyncio.run(main())
    trio.run(main)


def test_a_task_of_the_awaiting_loop_can_complete_the_unfuture() -> None:
    """No other thread is involved: the loop wakes its own awaiter."""

    async def under_asyncio() -> list[int]:
        later: Unfuture[int] = Unfuture()
        asyncio.get_running_loop().call_later(0.01, later.set_result, 1)
        failed: Unfuture[int] = Unfuture()
        asyncio.get_running_loop().call_soon(failed.set_exception, ValueError("from the loop"))
        with pytest.raises(ValueError, match="from the loop"):
            await failed
        return [await later]

    async def under_trio() -> list[int]:
        handoff: Unfuture[int] = Unfuture()

        async def complete_soon() -> None:
            await trio.sleep(0.01)
            handoff.set_result(2)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(complete_soon)
            received = await handoff
        return [received]

    assert asyncio.run(under_asyncio()) == [1]
    assert trio.run(under_trio) == [2]


def test_every_awaiter_wakes_however_completion_races_with_the_await() -> None:
    """Another thread completes each Unfuture around the moment it is awaited: before, during, after."""
    rounds = 3000
    handoff: queue.SimpleQueue[tuple[Unfuture[int], int] | None] = queue.SimpleQueue()

    def complete_each() -> None:
        # Polls instead of blocking, and waits a varying moment, so that
        # completions land all over the awaiter's path into its wait.
        spins = random.Random(0)
        while True:
            try:
                item = handoff.get_nowait()
            except queue.Empty:
                continue
            if item is None:
                return
            for _ in range(spins.randrange(300)):
                pass
            future, value = item
            future.set_result(value)

    async def await_many() -> int:
        total = 0
        for n in range(rounds):
            future: Unfuture[int] = Unfuture()
            handoff.put((future, n))
            total += await future
        return total

    completer = threading.Thread(target=complete_each)
    completer.start()
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the GIL over as often as possible, to meet every interleaving
    try:
        assert asyncio.run(await_many()) == sum(range(rounds))
        assert trio.run(await_many) == sum(range(rounds))
    finally:
        sys.setswitchinterval(switch_interval)
        handoff.put(None)
        completer.join()
