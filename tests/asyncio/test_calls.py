import asyncio

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
