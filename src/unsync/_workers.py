"""Blocking work in threads.

`ThreadWorkers` is a `concurrent.futures.Executor` whose fast path settles an
`Unfuture` straight from the worker thread: a round trip is one hand-off to a
worker and one wake-up of the caller, as with a bare ThreadPoolExecutor.  The
caller's contextvars are visible in the worker.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import os
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

from ._future import Unfuture

T = TypeVar("T")

# The same default as anyio.to_thread: blocking IO wants many threads, not one per core.
DEFAULT_MAX_THREADS = 40

_WorkItem = tuple[contextvars.Context, Callable[..., Any], tuple[Any, ...], dict[str, Any], Unfuture[Any]]


def as_concurrent_future(future: Unfuture[T]) -> concurrent.futures.Future[T]:
    """A running `concurrent.futures.Future` that mirrors ``future``'s outcome."""
    mirror: concurrent.futures.Future[T] = concurrent.futures.Future()

    def copy_outcome(source: Unfuture[T]) -> None:
        if source.cancelled():
            mirror.cancel()
        elif mirror.set_running_or_notify_cancel():
            if (exc := source.exception()) is not None:
                mirror.set_exception(exc)
            else:
                mirror.set_result(source.result())

    future.add_done_callback(copy_outcome)
    mirror.add_done_callback(lambda m: m.cancelled() and future.cancel())
    return mirror


class ThreadWorkers(concurrent.futures.Executor):
    """The default pool for sync functions: up to ``max_workers`` daemon threads.

    Threads start on demand and are reused.  They are daemons, so a blocking
    call that never returns cannot keep the interpreter from exiting.

        >>> pool = ThreadWorkers(max_workers=2)
        >>> pool.submit(sum, [1, 2, 3]).result()
        6
    """

    def __init__(self, max_workers: int | None = None, thread_name_prefix: str = "unsync-worker") -> None:
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, not {max_workers}")
        self.max_workers = max_workers or DEFAULT_MAX_THREADS
        self._name_prefix = thread_name_prefix
        self._queue: SimpleQueue[_WorkItem | None] = SimpleQueue()
        self._idle_workers = 0
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._shut_down = False
        os.register_at_fork(after_in_child=self._forget_after_fork)

    def run(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], future: Unfuture[T]) -> None:
        """Run ``fn(*args, **kwargs)`` in a worker, in the caller's context; settle ``future``."""
        if self._shut_down:
            raise RuntimeError("this thread pool has been shut down; it accepts no more work")
        self._queue.put((contextvars.copy_context(), fn, args, kwargs, future))
        if self._queue.qsize() > self._idle_workers:
            self._add_thread()

    def _add_thread(self) -> None:
        with self._lock:
            if len(self._threads) >= self.max_workers:
                return
            thread = threading.Thread(target=self._work, name=f"{self._name_prefix}-{len(self._threads)}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _set_idle(self, change: int) -> bool:
        """Count this worker as idle (+1) or busy (-1); False if it should retire."""
        with self._lock:
            if change > 0 and len(self._threads) > self.max_workers:
                # The limit was lowered: surplus workers retire as they finish.
                self._threads.remove(threading.current_thread())
                return False
            self._idle_workers += change
            return True

    def _work(self) -> None:
        queue = self._queue
        if not self._set_idle(+1):
            return
        while (item := queue.get()) is not None:
            self._set_idle(-1)
            context, fn, args, kwargs, future = item
            if future._claim():
                value: Any = None
                error: BaseException | None = None
                try:
                    value = context.run(fn, *args, **kwargs)
                except BaseException as exc:
                    error = exc
                # Idle before settling: the woken caller may submit again at once.
                stays = self._set_idle(+1)
                future._settle("finished", value, error)
            else:
                stays = self._set_idle(+1)
            del item, context, fn, args, kwargs, future
            if not stays:
                return
        self._set_idle(-1)
        queue.put(None)  # pass the stop signal on to the next worker

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        """Run ``fn(*args, **kwargs)`` in a worker; return a `concurrent.futures.Future`."""
        future: Unfuture[T] = Unfuture()
        self.run(fn, args, kwargs, future)
        return as_concurrent_future(future)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting work; workers exit once the queue is empty."""
        with self._lock:
            self._shut_down = True
            threads = list(self._threads)
        if cancel_futures:
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if item is not None:
                    item[-1].cancel()
        self._queue.put(None)
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()

    def _forget_after_fork(self) -> None:
        self._queue = SimpleQueue()
        self._idle_workers = 0
        self._threads = []
        self._lock = threading.Lock()


def run_in_thread(
    executor: concurrent.futures.Executor, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Unfuture[T]:
    """Run ``fn`` through ``executor``, in the caller's context; the default pool settles directly."""
    if isinstance(executor, ThreadWorkers):
        future: Unfuture[T] = Unfuture()
        executor.run(fn, args, kwargs, future)
        return future
    return Unfuture(executor.submit(contextvars.copy_context().run, fn, *args, **kwargs))
