import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from scenarios.calls import *
from unsync import unsync


def test_unsync_loop_is_the_running_asyncio_loop() -> None:
    loop = unsync.loop
    assert isinstance(loop, asyncio.AbstractEventLoop)
    assert loop.is_running()

    @unsync
    async def running_loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    assert running_loop().result() is loop


def test_calls_from_one_thread_start_in_the_order_they_were_made() -> None:
    started: list[int] = []

    @unsync
    async def record(n: int) -> asyncio.Task[object] | None:
        started.append(n)
        await asyncio.sleep(0)
        return asyncio.current_task()

    calls = [record(n) for n in range(200)]
    tasks = [call.result(timeout=5) for call in calls]
    assert started == list(range(200))
    assert all(isinstance(task, asyncio.Task) for task in tasks)
    assert len(set(map(id, tasks))) == 200  # each call had a task of its own


def test_a_task_factory_set_on_the_loop_makes_the_task_of_every_call() -> None:
    made: list[asyncio.Task[object]] = []

    def factory(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, object], context: Any = None
    ) -> asyncio.Task[object]:
        task = asyncio.Task(coro, loop=loop, context=context)
        made.append(task)
        return task

    @unsync
    async def current_task() -> asyncio.Task[object] | None:
        return asyncio.current_task()

    @unsync
    async def current_task_of_a_call_made_on_the_loop() -> asyncio.Task[object] | None:
        return await current_task()

    unsync.loop.set_task_factory(factory)
    try:
        from_a_thread = current_task().result(timeout=5)
        from_the_loop = current_task_of_a_call_made_on_the_loop().result(timeout=5)
    finally:
        unsync.loop.set_task_factory(None)
    assert from_a_thread in made
    assert from_the_loop in made


def test_awaiting_a_call_cancelled_in_its_first_step_raises_cancelled_error_in_the_awaiting_task() -> None:
    @unsync
    async def awaits_a_cancelled_future() -> None:
        cancelled = asyncio.get_running_loop().create_future()
        cancelled.cancel()
        await cancelled

    @unsync
    async def awaiting() -> str:
        call = awaits_a_cancelled_future()
        try:
            await call
        except asyncio.CancelledError:
            return f"CancelledError, and the call is cancelled: {call.cancelled()}"
        return "no error"

    assert awaiting().result(timeout=5) == "CancelledError, and the call is cancelled: True"
