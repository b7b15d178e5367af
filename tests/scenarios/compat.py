"""Programs written for unsync 1.4.0: its import paths, `isinstance`, `unsync.loop`."""

from __future__ import annotations

import anyio
import pytest

import unsync as unsync_package
from unsync import unsync


def test_the_1_4_0_module_path_gives_the_same_objects() -> None:
    from unsync.unsync import Unfuture as OldUnfuture
    from unsync.unsync import unsync as old_unsync

    @old_unsync
    async def add(a: int, b: int) -> int:
        await anyio.sleep(0)
        return a + b

    future = add(2, 3)
    assert isinstance(future, OldUnfuture)
    assert future.result() == 5
    assert old_unsync is unsync
    assert unsync_package.unsync is unsync


def test_isinstance_tells_decorated_callables_apart() -> None:
    @unsync
    async def fetch() -> str:
        return "page"

    @unsync
    def read() -> str:
        return "file"

    class Client:
        @unsync
        async def get(self) -> str:
            return "reply"

    def plain() -> None: ...

    async def plain_async() -> None: ...

    assert isinstance(fetch, unsync)
    assert isinstance(read, unsync)
    assert isinstance(Client().get, unsync)
    assert isinstance(Client.get, unsync)
    for other in (plain, plain_async, fetch(), len, Client(), unsync, "fetch", None):
        assert not isinstance(other, unsync), other


def test_assigning_the_loop_says_how_to_choose_it() -> None:
    with pytest.raises(TypeError, match=r"use_backend\('asyncio', loop_factory=\.\.\.\).*event-loop policy"):
        unsync.loop = object()
    with pytest.raises(TypeError, match="cannot be assigned"):
        unsync_package.loop = object()


def test_the_submodule_name_cannot_replace_the_decorator() -> None:
    with pytest.raises(TypeError, match="is the decorator"):
        unsync_package.unsync = lambda fn: fn
    assert unsync_package.unsync is unsync
