"""What ``Unfuture.cancel()`` does to work that has already started.

Both backends follow ``asyncio.Task`` semantics for coroutines: cancelling
only *requests* cancellation, so a coroutine that catches it decides the
outcome. Thread work cannot be interrupted once it runs.
"""

from __future__ import annotations

import threading

import anyio

from unsync import unsync


def test_a_coroutine_that_swallows_cancellation_keeps_its_return_value() -> None:
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
