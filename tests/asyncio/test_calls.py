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
