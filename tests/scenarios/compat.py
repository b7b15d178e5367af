"""Programs written for unsync 1.4.0: imports, isinstance, unsync.loop, Unfuture(...), .future, then()."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import threading
import time
import warnings
from collections.abc import Generator
from typing import Any, TypeVar

import anyio
import pytest
import trio

import unsync as unsync_package
from scenarios.awaiting import make_cancellable
from unsync import Unfuture, unsync

T = TypeVar("T")


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


# -- Unfuture(coroutine), Unfuture(awaitable) ---------------------------------------------------


async def thread_of_a_coroutine() -> threading.Thread:
    await anyio.sleep(0)
    return threading.current_thread()


def test_unfuture_of_a_coroutine_runs_it_on_the_ambient_loop() -> None:
    assert Unfuture(thread_of_a_coroutine()).result(timeout=10) is unsync.thread


def test_cancelling_unfuture_of_a_coroutine_cancels_the_coroutine() -> None:
    started, cancelled_inside = threading.Event(), threading.Event()

    async def wait_forever() -> None:
        started.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled_inside.set()
            raise

    job: Unfuture[None] = Unfuture(wait_forever())
    assert started.wait(10)
    assert job.cancel()
    with pytest.raises(concurrent.futures.CancelledError):
        job.result(timeout=10)
    assert cancelled_inside.is_set()


def test_a_coroutine_cancelled_before_it_starts_is_closed_without_a_warning() -> None:
    blocked, release = threading.Event(), threading.Event()

    @unsync
    async def hold_the_loop() -> None:
        blocked.set()
        release.wait(10)  # blocks the loop's thread: nothing else starts meanwhile

    holder = hold_the_loop()
    assert blocked.wait(10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        jobs: list[Unfuture[threading.Thread]] = [Unfuture(thread_of_a_coroutine()) for _ in range(20)]
        assert all(job.cancel() for job in jobs)
        release.set()
        holder.result(timeout=10)
        assert all(job.cancelled() for job in jobs)
        del jobs
        gc.collect()
    assert [str(warning.message) for warning in caught] == []


class Ticket:
    """An awaitable that is not a coroutine, as some libraries return."""

    def __init__(self, number: int) -> None:
        self.number = number

    def __await__(self) -> Generator[Any, None, int]:
        yield from anyio.sleep(0).__await__()
        return self.number


def test_unfuture_of_another_awaitable_awaits_it_on_the_ambient_loop() -> None:
    assert Unfuture(Ticket(7)).result(timeout=10) == 7


def test_unfuture_of_a_coroutine_or_awaitable_made_on_the_ambient_loop() -> None:
    @unsync
    async def outer() -> tuple[threading.Thread, int]:
        return await Unfuture(thread_of_a_coroutine()), await Unfuture(Ticket(3))

    assert outer().result(timeout=10) == (unsync.thread, 3)


def test_unfuture_of_a_coroutine_made_on_the_ambient_loop_and_cancelled_at_once_never_runs_it() -> None:
    ran: list[str] = []

    async def record() -> None:
        ran.append("ran")

    @unsync
    async def make_and_cancel() -> tuple[bool, bool]:
        job: Unfuture[None] = Unfuture(record())
        accepted = job.cancel()
        await anyio.sleep(0.01)  # time for its task to take its first step
        return accepted, job.cancelled()

    assert make_and_cancel().result(timeout=5) == (True, True)
    assert ran == []


def test_unfuture_of_an_awaitable_inside_another_loop_is_refused() -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match=r"ambiguous.*Await it here, or pass a coroutine"):
            Unfuture(Ticket(7))
        assert await Unfuture(thread_of_a_coroutine()) is unsync.thread  # a coroutine is not ambiguous

    asyncio.run(main())
    trio.run(main)


def run_asyncio_loop_in_a_thread() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    return loop, thread


def stop_asyncio_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_unfuture_of_an_asyncio_task_follows_it_on_its_own_loop() -> None:
    loop, thread = run_asyncio_loop_in_a_thread()
    try:
        release = threading.Event()

        async def answer_when_released() -> int:
            while not release.is_set():
                await asyncio.sleep(0.001)
            return 42

        async def start_tasks() -> tuple[asyncio.Task[int], asyncio.Task[int]]:
            return asyncio.ensure_future(answer_when_released()), asyncio.ensure_future(asyncio.sleep(3600, 0))

        answering, sleeping = asyncio.run_coroutine_threadsafe(start_tasks(), loop).result(10)
        answer: Unfuture[int] = Unfuture(answering)
        sleeper: Unfuture[int] = Unfuture(sleeping)
        assert not answer.done()
        release.set()
        assert answer.result(timeout=10) == 42

        assert sleeper.cancel()
        with pytest.raises(concurrent.futures.CancelledError):
            sleeper.result(timeout=10)
        assert sleeping.cancelled()
    finally:
        stop_asyncio_loop(loop, thread)


def test_unfuture_of_an_asyncio_future_that_fails() -> None:
    loop, thread = run_asyncio_loop_in_a_thread()
    try:
        failing: asyncio.Future[int] = loop.create_future()
        mirrored: Unfuture[int] = Unfuture(failing)
        loop.call_soon_threadsafe(failing.set_exception, KeyError("missing"))
        with pytest.raises(KeyError, match="missing"):
            mirrored.result(timeout=10)
    finally:
        stop_asyncio_loop(loop, thread)


def test_unfuture_of_an_asyncio_future_whose_loop_has_closed() -> None:
    loop = asyncio.new_event_loop()
    pending: asyncio.Future[int] = loop.create_future()
    answered: asyncio.Future[int] = loop.create_future()
    answered.set_result(7)
    failed: asyncio.Future[int] = loop.create_future()
    failed.set_exception(KeyError("gone"))
    cancelled: asyncio.Future[int] = loop.create_future()
    cancelled.cancel()
    loop.close()
    with pytest.raises(ValueError, match=r"would never finish: its event loop is closed"):
        Unfuture(pending)
    # A finished one still has its outcome, which nothing on the loop needs to deliver.
    assert Unfuture(answered).result(timeout=0) == 7
    with pytest.raises(KeyError, match="gone"):
        Unfuture(failed).result(timeout=0)
    assert Unfuture(cancelled).cancelled()


def test_cancelling_unfuture_of_an_asyncio_future_whose_loop_has_since_closed_reports_failure() -> None:
    loop, thread = run_asyncio_loop_in_a_thread()
    source: asyncio.Future[int] = asyncio.run_coroutine_threadsafe(make_future(), loop).result(10)
    follower: Unfuture[int] = Unfuture(source)
    stop_asyncio_loop(loop, thread)
    assert follower.cancel() is False
    assert not follower.done() and not source.cancelled()


async def make_future() -> asyncio.Future[int]:
    return asyncio.get_running_loop().create_future()


@pytest.mark.parametrize("source", [42, "text", [1, 2], print])
def test_unfuture_of_anything_else_lists_what_it_accepts(source: object) -> None:
    with pytest.raises(
        TypeError,
        match=r"Unfuture\(\) cannot make a future of .*it takes nothing.*concurrent.futures.Future.*coroutine",
    ):
        Unfuture(source)  # type: ignore[arg-type]


# -- Unfuture.future ---------------------------------------------------------------------------


def view_of(unfuture: Unfuture[T]) -> concurrent.futures.Future[T]:
    with pytest.warns(DeprecationWarning, match=r"Unfuture.future is deprecated.*call cancel\(\), result\(\)"):
        return unfuture.future


@unsync
async def slow_double(x: int, delay: float = 0.05) -> int:
    await anyio.sleep(delay)
    return 2 * x


def test_the_future_view_gives_the_result_and_runs_callbacks() -> None:
    job = slow_double(4)
    view = view_of(job)
    assert isinstance(view, concurrent.futures.Future)
    seen: list[concurrent.futures.Future[int]] = []
    view.add_done_callback(seen.append)
    done, _ = concurrent.futures.wait([view], timeout=10)
    assert done == {view}
    assert view.result() == 8 and view.exception() is None
    assert seen == [view]
    assert view_of(job) is view  # one view while it is held


def test_the_future_view_cancels_the_work() -> None:
    started, cleaned_up, job = make_cancellable()
    view = view_of(job)
    called = threading.Event()
    view.add_done_callback(lambda _view: called.set())
    assert started.wait(10)
    assert view.cancel()
    with pytest.raises(concurrent.futures.CancelledError):
        view.result(timeout=10)
    assert view.cancelled() and job.cancelled() and cleaned_up.is_set()
    assert called.wait(10)
    done, _ = concurrent.futures.wait([view], timeout=10)
    assert done == {view}


def test_the_future_view_of_a_thread_cannot_cancel_it_either() -> None:
    release = threading.Event()

    @unsync
    def blocking() -> str:
        release.wait(10)
        return "done"

    job = blocking()
    view = view_of(job)
    while not job.running():
        time.sleep(0.001)
    assert view.running()
    assert view.cancel() is job.cancel() is False
    release.set()
    assert view.result(timeout=10) == "done"
    assert not view.running()


def test_the_future_view_reports_the_exception() -> None:
    @unsync
    async def broken() -> None:
        raise LookupError("nothing here")

    view = view_of(broken())
    assert isinstance(view.exception(timeout=10), LookupError)
    assert isinstance(asyncio.run(wrapped_result(view)), LookupError)


async def wrapped_result(view: concurrent.futures.Future[Any]) -> BaseException | None:
    try:
        await asyncio.wrap_future(view)
    except LookupError as error:
        return error
    return None


# -- continuations written for unsync 1.4.0, which passed the value -------------------------------


def value_of(argument: Any) -> Any:
    """The migration guide's helper: the value, under unsync 1.4.0 (a value) and now (the Unfuture)."""
    return argument.result() if isinstance(argument, Unfuture) else argument


def test_a_value_continuation_gets_a_note_on_how_to_read_the_value() -> None:
    with pytest.raises(TypeError, match="unsupported operand") as caught:
        slow_double(1).then(lambda x: x + 1).result(timeout=10)
    assert any("then() passes the finished Unfuture" in note and ".result()" in note for note in caught.value.__notes__)


def test_an_async_value_continuation_gets_the_note() -> None:
    async def shout(text: Any) -> str:
        return str(text.upper())

    @unsync
    async def greet() -> str:
        return "hello"

    with pytest.raises(AttributeError, match="upper") as caught:
        greet().then(shout).result(timeout=10)
    assert any("then() passes the finished Unfuture" in note for note in caught.value.__notes__)


def test_a_decorated_value_continuation_gets_the_note() -> None:
    @unsync
    def add_one(x: Any) -> int:
        return int(x + 1)

    with pytest.raises(TypeError) as caught:
        slow_double(1).then(add_one).result(timeout=10)
    assert any("then() passes the finished Unfuture" in note for note in caught.value.__notes__)


def test_errors_that_are_not_about_the_unfuture_get_no_note() -> None:
    def reject(done: Unfuture[int]) -> int:
        raise TypeError(f"{done.result()} is not a valid port")

    with pytest.raises(TypeError, match="not a valid port") as caught:
        slow_double(1).then(reject).result(timeout=10)
    assert not getattr(caught.value, "__notes__", [])


def test_the_documented_ways_to_write_value_continuations() -> None:
    assert slow_double(1).then(lambda done: done.result() + 1).result(timeout=10) == 3
    assert slow_double(1).then(lambda argument: value_of(argument) + 1).result(timeout=10) == 3
    assert value_of(5) + 1 == 6  # what the helper gets under unsync 1.4.0
