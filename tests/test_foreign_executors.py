"""``@unsync`` calls run by executors other than unsync's own pools: what they are handed, cancelling, refusals."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import pickle
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from scenarios.cpu_work import sum_of_squares, worker_pid
from unsync import Limiter, unsync


@pytest.fixture
def thread_executor() -> Iterator[Callable[[concurrent.futures.Executor], None]]:
    default = unsync.thread_executor

    def install(executor: concurrent.futures.Executor) -> None:
        unsync.thread_executor = executor

    yield install
    unsync.thread_executor = default


@pytest.fixture
def process_executor() -> Iterator[Callable[[concurrent.futures.Executor], None]]:
    default = unsync.process_executor

    def install(executor: concurrent.futures.Executor) -> None:
        unsync.process_executor = executor

    yield install
    unsync.process_executor = default


def test_cancelling_a_call_queued_in_a_foreign_executor_cancels_it_there(
    thread_executor: Callable[[concurrent.futures.Executor], None],
) -> None:
    ran: list[str] = []
    started, release = threading.Event(), threading.Event()

    @unsync
    def hold() -> str:
        started.set()
        release.wait(5)
        return "finished"

    @unsync
    def note() -> None:
        ran.append("queued call")

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        thread_executor(pool)
        running = hold()
        assert started.wait(5)
        queued = note()
        assert queued.running()  # handed to the pool, which has no thread free for it
        assert queued.cancel()
        assert not running.cancel()  # the pool's own answer: it cannot stop a running call
        release.set()
        assert running.result(timeout=5) == "finished"
    assert queued.cancelled()
    assert ran == []


class RecordingExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs what it is given in a thread, and keeps what it was given, as Dask shows its tasks' arguments."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.handed: list[tuple[Any, ...]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        self.handed.append(args)
        return super().submit(fn, *args, **kwargs)


def test_a_foreign_executor_is_handed_a_reference_that_names_the_function(
    process_executor: Callable[[concurrent.futures.Executor], None],
) -> None:
    with RecordingExecutor() as pool:
        process_executor(pool)
        assert sum_of_squares(4).result(timeout=10) == 14
        assert sum_of_squares(3).result(timeout=10) == 5
    (first, args, kwargs), (second, _, _) = pool.handed
    assert (args, kwargs) == ((4,), {})
    assert repr(first) == "FunctionReference('scenarios.cpu_work', 'sum_of_squares')"
    # Equal and hashable by what they name: an executor may key or deduplicate its tasks by them.
    assert first == second and hash(first) == hash(second)
    assert first != repr(first)
    assert pickle.loads(pickle.dumps(first)) == first
    assert len({first, second}) == 1


def test_a_cpu_bound_call_to_a_shut_down_executor_fails_with_the_executors_own_error(
    process_executor: Callable[[concurrent.futures.Executor], None],
) -> None:
    pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    pool.shutdown()
    process_executor(pool)
    call = worker_pid()
    # Every argument pickles, so the refusal is not blamed on one of them.
    with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
        call.result(timeout=10)


class InlineExecutor(concurrent.futures.Executor):
    """Runs each call at once in the thread that submits it, as executors made for debugging do."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:
            future.set_exception(exc)
        return future


def test_limited_calls_nest_in_one_thread_under_an_executor_that_runs_them_inline(
    thread_executor: Callable[[concurrent.futures.Executor], None],
) -> None:
    outer_limit, inner_limit = Limiter(1), Limiter(1)
    held: list[tuple[int, int]] = []

    @unsync(limit=inner_limit)
    def inner(n: int) -> int:
        held.append((outer_limit.running, inner_limit.running))
        return n + 1

    @unsync(limit=outer_limit)
    def outer(n: int) -> int:
        # In this same thread, which holds the outer slot while it takes the inner one.
        return inner(n).result() * 10

    thread_executor(InlineExecutor())
    assert outer(1).result(timeout=5) == 20
    assert held == [(1, 1)]
    assert (outer_limit.running, inner_limit.running) == (0, 0)
    assert outer(2).result(timeout=5) == 30  # both slots came back
