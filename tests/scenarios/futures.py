"""`Unfuture`: blocking access, completion from any thread, callbacks, continuations."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import traceback

import anyio
import pytest

from scenarios.awaiting import make_cancellable
from scenarios.cpu_work import double_the_result
from unsync import DeadlockError, Unfuture, unsync


@unsync
async def add_later(a: int, b: int, delay: float = 0.05) -> int:
    await anyio.sleep(delay)
    return a + b


@unsync
def add_in_thread(a: int, b: int) -> int:
    return a + b


@unsync
async def fail_on_purpose() -> None:
    await anyio.sleep(0)
    raise_value_error()


def raise_value_error() -> None:
    raise ValueError("broken on purpose")


def test_result_waits_with_a_timeout() -> None:
    slow = add_later(1, 2, delay=0.5)
    with pytest.raises(TimeoutError):
        slow.result(timeout=0.05)
    assert slow.result() == 3


def test_done_exception_and_result() -> None:
    future = add_later(2, 3)
    assert not future.done()
    assert future.exception() is None
    assert future.done() and not future.cancelled()
    assert future.result() == 5


def test_exceptions_keep_the_frame_that_raised() -> None:
    future = fail_on_purpose()
    with pytest.raises(ValueError, match="broken on purpose") as caught:
        future.result()
    frames = [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert "raise_value_error" in frames
    assert isinstance(future.exception(), ValueError)


def test_set_result_from_many_threads_exactly_one_wins() -> None:
    future: Unfuture[int] = Unfuture()
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def complete(value: int) -> None:
        start.wait()
        try:
            future.set_result(value)
            outcomes.append("won")
        except asyncio.InvalidStateError:
            outcomes.append("refused")

    threads = [threading.Thread(target=complete, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * 7 + ["won"]
    assert future.result() in range(8)
    with pytest.raises(asyncio.InvalidStateError):
        future.set_exception(RuntimeError("too late"))


def test_an_unfuture_completed_later_by_another_thread_unblocks_result() -> None:
    future: Unfuture[str] = Unfuture()
    threading.Timer(0.05, future.set_result, args=("later",)).start()
    assert future.result(timeout=5) == "later"


def test_wrapping_a_concurrent_future_mirrors_its_outcome() -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert Unfuture(pool.submit(pow, 2, 10)).result() == 1024
        failing = Unfuture(pool.submit(int, "not a number"))
        with pytest.raises(ValueError, match="invalid literal"):
            failing.result()
    pending: concurrent.futures.Future[int] = concurrent.futures.Future()
    mirror = Unfuture(pending)
    assert mirror.cancel()
    assert pending.cancelled() and mirror.cancelled()
    with pytest.raises(concurrent.futures.CancelledError):
        mirror.result()


def test_from_value_is_already_done() -> None:
    assert Unfuture.from_value("ready").done()
    assert Unfuture.from_value("ready").result() == "ready"


def test_done_callbacks_receive_the_unfuture_even_when_added_late() -> None:
    seen: list[Unfuture[int]] = []
    arrived = threading.Event()
    future = add_later(1, 1)
    future.add_done_callback(lambda f: (seen.append(f), arrived.set()))
    assert arrived.wait(5)
    future.add_done_callback(seen.append)  # already done: called at once
    assert seen == [future, future]


def test_cancel_before_the_work_starts() -> None:
    future: Unfuture[int] = Unfuture()
    assert future.cancel()
    assert future.cancelled() and future.done()
    with pytest.raises(concurrent.futures.CancelledError):
        future.result()


def test_cancel_a_running_coroutine_runs_its_cleanup() -> None:
    started, cleaned_up, future = make_cancellable()
    assert started.wait(5)
    assert future.cancel()
    assert cleaned_up.wait(5)
    with pytest.raises(concurrent.futures.CancelledError):
        future.result(timeout=5)
    assert future.cancelled()


def test_result_inside_the_ambient_loop_raises_instead_of_deadlocking() -> None:
    @unsync
    async def block_on(other: Unfuture[int]) -> str:
        try:
            other.result()
        except DeadlockError as exc:
            return str(exc)
        return "no error"

    pending: Unfuture[int] = Unfuture()
    message = block_on(pending).result()
    assert "deadlock" in message
    assert issubclass(DeadlockError, asyncio.InvalidStateError)

    @unsync
    async def read_finished(other: Unfuture[int]) -> int:
        return other.result()

    assert read_finished(Unfuture.from_value(7)).result() == 7


def test_result_in_a_done_callback_on_the_loop_also_raises() -> None:
    errors: list[BaseException] = []
    pending: Unfuture[int] = Unfuture()

    @unsync
    async def register() -> None:
        def on_done(_: Unfuture[None]) -> None:
            try:
                pending.result()
            except DeadlockError as exc:
                errors.append(exc)

        trigger: Unfuture[None] = Unfuture()
        trigger.add_done_callback(on_done)
        trigger.set_result(None)

    register().result()
    assert len(errors) == 1


def test_coroutines_await_each_other_on_the_ambient_loop() -> None:
    @unsync
    async def total() -> int:
        first, second = add_later(1, 2), add_in_thread(3, 4)
        return await first + await second

    assert total().result() == 10


def test_awaiting_on_the_ambient_loop_gives_results_exceptions_and_finished_calls() -> None:
    @unsync
    async def instant(x: int) -> int:
        return x

    @unsync
    async def gather_all() -> tuple[list[int], str]:
        started_long_ago = add_later(10, 10, delay=0.01)
        await anyio.sleep(0.05)  # finished before it is awaited
        values = [await instant(1), await add_later(2, 3), await started_long_ago]
        try:
            await fail_on_purpose()
        except ValueError as exc:
            return values, str(exc)
        return values, "no exception"

    assert gather_all().result(timeout=5) == ([1, 5, 20], "broken on purpose")


def test_a_cancelled_awaiter_on_the_ambient_loop_cancels_the_work() -> None:
    @unsync
    async def give_up(after: float) -> tuple[threading.Event, threading.Event, Unfuture[None]]:
        started, cleaned_up, job = make_cancellable()
        with anyio.move_on_after(after):
            await job
        return started, cleaned_up, job

    # At once (the work may not have taken a step yet), and while the work sleeps.
    for after in (0, 0.05):
        started, cleaned_up, job = give_up(after).result(timeout=5)
        with pytest.raises(concurrent.futures.CancelledError):
            job.result(timeout=5)
        assert cleaned_up.is_set() == started.is_set()  # work that had started was unwound
        assert started.is_set() or not after


def test_then_passes_the_finished_unfuture_to_plain_async_and_unsync_continuations() -> None:
    def plain(done: Unfuture[int]) -> int:
        return done.result() * 2

    async def coroutine(done: Unfuture[int]) -> int:
        await anyio.sleep(0)
        return done.result() + 1

    @unsync
    def decorated(done: Unfuture[int]) -> str:
        return f"got {done.result()}"

    assert add_later(1, 2).then(plain).then(coroutine).then(decorated).result() == "got 7"


def test_then_sees_the_source_exception() -> None:
    def describe(done: Unfuture[None]) -> str:
        return type(done.exception()).__name__

    assert fail_on_purpose().then(describe).result() == "ValueError"


def test_a_blocking_plain_continuation_does_not_block_the_loop() -> None:
    started, released = threading.Event(), threading.Event()

    def slow(done: Unfuture[int]) -> int:
        started.set()
        released.wait(10)
        return done.result()

    chained = Unfuture.from_value(1).then(slow)
    assert started.wait(10)
    # Were slow() blocking the loop, this call would end only after its wait.
    assert add_later(1, 1, delay=0.01).result(timeout=30) == 2
    assert not chained.done()
    released.set()
    assert chained.result(timeout=30) == 1


def test_a_cpu_bound_continuation_receives_the_finished_unfuture_in_its_process() -> None:
    assert add_later(2, 3).then(double_the_result).result(timeout=30) == 10


def test_then_rejects_a_non_callable_at_once() -> None:
    with pytest.raises(TypeError, match="callable"):
        Unfuture.from_value(1).then("not callable")  # type: ignore[arg-type]


def test_many_threads_submitting_at_once_lose_no_call() -> None:
    @unsync
    async def identity(n: int) -> int:
        return n

    results: list[list[int]] = []

    def submit_burst(offset: int) -> None:
        futures = [identity(offset + i) for i in range(300)]
        results.append([f.result(timeout=30) for f in futures])

    threads = [threading.Thread(target=submit_burst, args=(k * 1000,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(n for burst in results for n in burst) == sorted(k * 1000 + i for k in range(8) for i in range(300))


def test_remove_done_callback_removes_every_registration_of_that_callback() -> None:
    calls: list[str] = []

    def first(_: Unfuture[int]) -> None:
        calls.append("first")

    def second(_: Unfuture[int]) -> None:
        calls.append("second")

    future: Unfuture[int] = Unfuture()
    assert future.remove_done_callback(first) == 0
    for callback in (first, second, first):
        future.add_done_callback(callback)
    assert future.remove_done_callback(first) == 2
    future.set_result(1)
    assert calls == ["second"]
    assert future.remove_done_callback(second) == 0
