"""What ``@unsync`` accepts and where each kind of callable runs."""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools
import os
import threading
import time
from typing import Any

import anyio
import anyio.to_thread
import pytest

from scenarios.cpu_work import sum_of_squares, worker_pid
from unsync import Unfuture, unsync

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


@unsync
async def current_thread_async() -> threading.Thread:
    return threading.current_thread()


@unsync
def current_thread_sync() -> threading.Thread:
    return threading.current_thread()


@unsync
async def sleep_async(seconds: float) -> str:
    await anyio.sleep(seconds)
    return "slept"


def test_async_functions_run_on_the_ambient_loop_thread() -> None:
    assert current_thread_async().result() is unsync.thread


def test_sync_functions_run_in_a_worker_thread() -> None:
    worker = current_thread_sync().result()
    assert worker is not threading.current_thread()
    assert worker is not unsync.thread


def test_cpu_bound_functions_run_in_another_process() -> None:
    assert worker_pid().result(timeout=30) != os.getpid()
    assert sum_of_squares(10).result(timeout=30) == 285


@unsync
async def wait_for(event: threading.Event, seconds: float) -> bool:
    return await anyio.to_thread.run_sync(event.wait, seconds)


def test_every_call_returns_an_unfuture_at_once() -> None:
    released = threading.Event()
    # Only this thread sets the event: a call that waited for its outcome
    # would return after 10 s, done and with False.
    future = wait_for(released, 10)
    assert isinstance(future, Unfuture)
    assert not future.done()
    released.set()
    assert future.result(timeout=10) is True


class Counter:
    def __init__(self, start: int) -> None:
        self.value = start

    @unsync
    async def add_async(self, n: int) -> int:
        self.value += n
        return self.value

    @unsync
    def add_sync(self, n: int) -> int:
        self.value += n
        return self.value


def test_methods_bind_to_their_instance() -> None:
    counter = Counter(10)
    assert counter.add_async(1).result() == 11
    assert counter.add_sync(2).result() == 13
    assert Counter.add_async(counter, 3).result() == 16


def test_builtins_partials_and_callable_objects() -> None:
    sleep = unsync(time.sleep)
    assert sleep(0.01).result() is None

    def power(base: int, exp: int) -> int:
        return base**exp

    async def apower(base: int, exp: int) -> int:
        await anyio.sleep(0)
        return base**exp

    assert unsync(functools.partial(power, exp=3))(2).result() == 8
    async_partial = unsync(functools.partial(apower, exp=2))
    assert async_partial(5).result() == 25
    assert threading.current_thread() is not unsync.thread

    class Greeter:
        def __call__(self, name: str) -> str:
            return f"hi {name}"

    class AsyncGreeter:
        async def __call__(self, name: str) -> threading.Thread:
            return threading.current_thread()

    assert unsync(Greeter())("ann").result() == "hi ann"
    assert unsync(AsyncGreeter())("bob").result() is unsync.thread


def tagged(fn: Any) -> Any:
    """Another decorator, written the usual way, that adds an attribute."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    wrapper.tag = "important"  # type: ignore[attr-defined]
    return wrapper


class Documented:
    @unsync
    @tagged
    def method(self) -> str:
        """Say hello."""
        return "hello"


def test_name_doc_wrapped_and_extra_attributes_survive_including_through_bound_methods() -> None:
    unbound = Documented.__dict__["method"]
    bound = Documented().method
    for wrapped in (unbound, bound):
        assert wrapped.__name__ == "method"
        assert wrapped.__doc__ == "Say hello."
        assert wrapped.tag == "important"
    assert unbound.__wrapped__.__wrapped__.__name__ == "method"
    assert bound().result() == "hello"


def test_non_callables_are_rejected_where_they_are_decorated() -> None:
    with pytest.raises(TypeError, match="callable"):
        unsync(42)  # type: ignore[call-overload]
    assert current_thread_sync().result() is not None  # still works


def test_cpu_bound_coroutine_functions_are_rejected() -> None:
    async def not_for_processes() -> None:
        pass

    with pytest.raises(TypeError, match="cpu_bound"):
        unsync(cpu_bound=True)(not_for_processes)


def test_unknown_options_are_errors_that_name_the_valid_ones() -> None:
    with pytest.raises(TypeError, match=r"'cpu_bund'.*'cpu_bound'"):
        unsync(cpu_bund=True)  # type: ignore[call-overload]
    assert sleep_async(0).result() == "slept"


def test_compatibility_attributes() -> None:
    assert unsync.thread.is_alive()
    assert isinstance(unsync.thread_executor, concurrent.futures.Executor)
    assert isinstance(unsync.process_executor, concurrent.futures.Executor)


def test_any_executor_can_run_sync_work() -> None:
    default = unsync.thread_executor
    with concurrent.futures.ThreadPoolExecutor(thread_name_prefix="custom-pool") as pool:
        unsync.thread_executor = pool
        try:
            assert current_thread_sync().result().name.startswith("custom-pool")
        finally:
            unsync.thread_executor = default
    assert not current_thread_sync().result().name.startswith("custom-pool")


def test_a_non_executor_is_rejected() -> None:
    with pytest.raises(TypeError, match="Executor"):
        unsync.thread_executor = "threads"  # type: ignore[assignment]


def test_a_coroutine_runs_in_the_callers_context_and_its_changes_stay_in_that_call() -> None:
    # Calls run one after another may share a trio task: each must still get
    # the context of its own caller, and leave nothing behind for the next.
    @unsync
    async def read_then_change() -> str:
        seen = request_id.get()
        request_id.set("changed by the call")
        await anyio.sleep(0)
        return seen

    token = request_id.set("req-7")
    try:
        assert read_then_change().result() == "req-7"
        assert request_id.get() == "req-7"
    finally:
        request_id.reset(token)
    assert [read_then_change().result() for _ in range(3)] == ["none"] * 3


def test_calls_made_on_the_ambient_loop_see_the_calling_tasks_context() -> None:
    @unsync
    async def inner() -> str:
        return request_id.get()

    @unsync
    async def outer(value: str) -> tuple[str, str]:
        request_id.set(value)
        first = await inner()
        request_id.set(value + "-again")
        return first, await inner()

    assert outer("loop").result() == ("loop", "loop-again")
    assert request_id.get() == "none"


def test_a_call_runs_in_one_task_of_its_own_from_its_first_step() -> None:
    @unsync
    async def task_before_and_after_a_cancel_scope() -> tuple[int, int, bool]:
        first_step_task = anyio.get_current_task().id
        # A cancel scope in the first step needs the call's task to exist already.
        with anyio.move_on_after(0.01) as scope:
            await anyio.sleep(5)
        return first_step_task, anyio.get_current_task().id, scope.cancelled_caught

    before, after, timed_out = task_before_and_after_a_cancel_scope().result(timeout=5)
    assert before == after
    assert timed_out
