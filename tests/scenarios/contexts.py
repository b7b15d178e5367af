"""Async context managers in ``with`` from sync code and in ``async with`` from any loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator

import anyio
import pytest
import trio

import unsync
from conftest import RunPython


class Resource:
    """An async context manager that records where and how it was entered and exited."""

    def __init__(self, suppress: bool = False) -> None:
        self.suppress = suppress
        self.threads: list[str] = []
        self.exited_with: list[BaseException | None] = []

    async def __aenter__(self) -> str:
        await anyio.sleep(0)
        self.threads.append(threading.current_thread().name)
        return "connection"

    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> bool:
        await anyio.sleep(0)
        self.threads.append(threading.current_thread().name)
        self.exited_with.append(exc)
        return self.suppress


@contextlib.asynccontextmanager
async def with_a_task_group(log: list[str]) -> AsyncIterator[str]:
    # A task group must be left in the task that entered it.
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(anyio.sleep, 0)
        log.append("entered")
        try:
            yield "inside"
        finally:
            log.append("exited")


def test_with_from_sync_code_enters_and_exits_on_the_ambient_loop() -> None:
    resource = Resource()
    with unsync.context(resource) as value:
        assert value == "connection"
        assert resource.exited_with == []
    assert resource.threads == ["unsync-ambient-loop"] * 2
    assert resource.exited_with == [None]


def test_an_exception_in_the_body_reaches_aexit_which_may_suppress_it() -> None:
    keeps = Resource(suppress=False)
    error = KeyError("missing")
    with pytest.raises(KeyError, match="missing"), unsync.context(keeps):
        raise error
    assert keeps.exited_with == [error]

    swallows = Resource(suppress=True)
    with unsync.context(swallows):
        raise ValueError("swallowed")
    assert isinstance(swallows.exited_with[0], ValueError)


def test_a_manager_that_opens_a_task_group_works_from_sync_code_and_from_threads() -> None:
    logs: list[list[str]] = [[] for _ in range(8)]

    def use(log: list[str]) -> None:
        with unsync.context(with_a_task_group(log)) as value:
            log.append(value)

    threads = [threading.Thread(target=use, args=(log,)) for log in logs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert logs == [["entered", "inside", "exited"]] * 8


def test_async_with_from_asyncio_run_trio_run_and_the_ambient_loop() -> None:
    async def use() -> list[str]:
        log: list[str] = []
        async with unsync.context(with_a_task_group(log)) as value:
            log.append(value)
        return log

    expected = ["entered", "inside", "exited"]
    assert asyncio.run(use()) == expected
    assert trio.run(use) == expected
    assert unsync.unsync(use)().result(timeout=5) == expected


def test_async_with_passes_the_body_exception_to_aexit() -> None:
    resource = Resource(suppress=True)

    async def use() -> str:
        async with unsync.context(resource):
            raise OSError("body failed")
        return "suppressed"

    assert asyncio.run(use()) == "suppressed"
    assert trio.run(use) == "suppressed"
    assert [type(exc) for exc in resource.exited_with] == [OSError, OSError]


def test_an_error_while_entering_reaches_the_with_statement() -> None:
    @contextlib.asynccontextmanager
    async def refused() -> AsyncIterator[None]:
        raise ConnectionRefusedError("no server")
        yield

    with pytest.raises(ConnectionRefusedError), unsync.context(refused()):
        pass

    async def use() -> None:
        async with unsync.context(refused()):
            pass

    with pytest.raises(ConnectionRefusedError):
        trio.run(use)


class FailsToClose(Resource):
    async def __aexit__(self, exc_type: object, exc: BaseException | None, tb: object) -> bool:
        await super().__aexit__(exc_type, exc, tb)
        raise BrokenPipeError("could not close")


def test_an_error_while_exiting_reaches_the_end_of_the_with_statement() -> None:
    resource = FailsToClose()
    with pytest.raises(BrokenPipeError, match="could not close"), unsync.context(resource):
        pass

    async def use() -> None:
        async with unsync.context(resource):
            pass

    with pytest.raises(BrokenPipeError, match="could not close"):
        asyncio.run(use())
    with pytest.raises(BrokenPipeError, match="could not close"):
        trio.run(use)
    assert resource.exited_with == [None] * 3


def test_exiting_a_context_that_was_never_entered_says_so() -> None:
    # ExitStack.push() registers only the exit: a slip for enter_context().
    with pytest.raises(RuntimeError, match="was not entered"), contextlib.ExitStack() as stack:
        stack.push(unsync.context(Resource()))
    with pytest.raises(RuntimeError, match="was not entered"), contextlib.ExitStack() as stack:
        stack.push(open_resource(Resource()))


def test_cancelling_the_body_of_async_with_still_exits_the_manager() -> None:
    resource = Resource()

    async def use() -> None:
        with trio.move_on_after(0.05):
            async with unsync.context(resource):
                await trio.sleep(3600)

    trio.run(use)
    assert len(resource.exited_with) == 1
    assert resource.threads == ["unsync-ambient-loop"] * 2


def test_a_manager_is_used_once_and_must_be_an_async_context_manager() -> None:
    manager = unsync.context(Resource())
    with manager:
        pass
    with pytest.raises(RuntimeError, match="already entered"), manager:
        pass
    with pytest.raises(TypeError, match="async context manager"):
        unsync.context(open)  # type: ignore[arg-type]


def test_cancelling_an_asyncio_task_in_the_body_still_exits_the_manager_before_the_task_ends() -> None:
    resource = Resource()

    async def main() -> int:
        async def use() -> None:
            async with unsync.context(resource):
                await asyncio.sleep(3600)

        task = asyncio.create_task(use())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return len(resource.exited_with)

    assert asyncio.run(main()) == 1
    assert isinstance(resource.exited_with[0], asyncio.CancelledError)


def test_when_the_ambient_loop_stops_under_the_block_the_manager_exits_and_the_block_ends_cancelled(
    run_python: RunPython, anyio_backend: str
) -> None:
    proc = run_python(
        f"""
        import concurrent.futures, contextlib
        import unsync
        unsync.use_backend({anyio_backend!r})
        log = []

        @contextlib.asynccontextmanager
        async def connection():
            try:
                yield "connection"
            finally:
                log.append("closed")

        try:
            with unsync.context(connection()) as value:
                unsync.shutdown()
                log.append(f"{{value}} still in the block")
        except concurrent.futures.CancelledError:
            log.append("cancelled at the end of the block")
        print(log)
        """
    )
    assert proc.stdout.strip() == str(["closed", "connection still in the block", "cancelled at the end of the block"])
    assert proc.stderr == ""


# -- through the decorator ---------------------------------------------------------------


@unsync.unsync
@contextlib.asynccontextmanager
async def session(log: list[str]) -> AsyncIterator[str]:
    async with anyio.create_task_group():
        log.append(f"entered in {threading.current_thread().name}")
        yield "session"
        log.append("exited")


@unsync.unsync
async def open_resource(resource: Resource) -> Resource:
    await anyio.sleep(0)
    return resource


def test_an_unsync_asynccontextmanager_function_gives_a_context_for_with_and_async_with() -> None:
    log: list[str] = []
    manager = session(log)
    assert isinstance(manager, unsync.UnsyncContext)
    assert log == []  # nothing runs before the block is entered
    with manager as value:
        assert value == "session"

    async def use() -> str:
        async with session(log) as value:
            return value

    assert asyncio.run(use()) == "session"
    assert trio.run(use) == "session"
    assert log == ["entered in unsync-ambient-loop", "exited"] * 3


def test_the_unfuture_of_a_coroutine_that_returns_a_manager_is_entered_with_with_and_async_with() -> None:
    resource = Resource(suppress=True)
    with open_resource(resource) as value:
        assert value == "connection"
        raise KeyError("suppressed by the manager")

    async def use() -> str:
        async with open_resource(resource) as value:
            return value

    assert asyncio.run(use()) == "connection"
    assert trio.run(use) == "connection"
    assert resource.threads == ["unsync-ambient-loop"] * 6
    assert [type(exc) for exc in resource.exited_with] == [KeyError, type(None), type(None)]


def test_a_continuation_that_is_an_asynccontextmanager_function_gives_a_context_to_enter() -> None:
    log: list[str] = []

    @contextlib.asynccontextmanager
    async def labelled(done: unsync.Unfuture[Resource]) -> AsyncIterator[str]:
        async with done.result() as value:
            log.append("entered")
            yield f"{value} ready"
        log.append("exited")

    context = open_resource(Resource()).then(labelled).result(timeout=5)
    assert isinstance(context, unsync.UnsyncContext)
    with context as value:
        assert value == "connection ready"
    assert log == ["entered", "exited"]


def test_the_unfuture_of_a_call_that_returns_no_manager_cannot_be_entered() -> None:
    @unsync.unsync
    async def number() -> int:
        return 1

    with (
        pytest.raises(TypeError, match=r"enter the async context manager that its call returned.* returned 1"),
        number(),
    ):
        pass


def test_the_manager_of_an_unfuture_is_entered_once() -> None:
    future = open_resource(Resource())
    with future, pytest.raises(RuntimeError, match="already entered"), future:
        pass


class SlowToEnter(Resource):
    async def __aenter__(self) -> str:
        await anyio.sleep(0.2)
        return await super().__aenter__()


def test_a_consumer_cancelled_while_entering_leaves_the_manager_exited_once_it_has_entered() -> None:
    resource = SlowToEnter()

    async def main() -> None:
        async def use() -> None:
            async with unsync.context(resource):
                raise AssertionError("the block never runs")

        task = asyncio.create_task(use())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    deadline = time.monotonic() + 5
    while not resource.exited_with and time.monotonic() < deadline:
        time.sleep(0.01)
    assert resource.exited_with == [None]
    assert resource.threads == ["unsync-ambient-loop"] * 2
