import pytest
import trio

from scenarios.calls import *
from unsync import unsync


def test_unsync_loop_explains_that_trio_has_no_asyncio_loop() -> None:
    with pytest.raises(RuntimeError, match="trio"):
        unsync.loop  # noqa: B018 - reading the attribute is the test


def test_coroutines_run_under_trio() -> None:
    @unsync
    async def trio_task() -> trio.lowlevel.Task:
        await trio.sleep(0)
        return trio.lowlevel.current_task()

    assert isinstance(trio_task().result(), trio.lowlevel.Task)
