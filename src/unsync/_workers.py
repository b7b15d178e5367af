"""Blocking work in threads.

`ThreadWorkers` is a `concurrent.futures.Executor` whose fast path settles an
`Unfuture` straight from the worker thread: a round trip is one hand-off to a
worker and one wake-up of the caller, as with a bare ThreadPoolExecutor.  The
caller's contextvars are visible in the worker.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import itertools
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar, cast

from ._future import Unfuture

T = TypeVar("T")

# The same defaults as anyio.to_thread: blocking IO wants many threads, not one
# per core, and a thread idle this long (seconds) is not worth its memory.
DEFAULT_MAX_THREADS = 40
DEFAULT_IDLE_TIMEOUT = 10.0

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


class _IdleWorker:
    """A parked worker thread, woken by handing it a work item (None: stop)."""

    __slots__ = ("item", "wake")

    def __init__(self) -> None:
        self.item: _WorkItem | None = None
        self.wake = threading.Lock()
        self.wake.acquire()

    def hand_over(self, item: _WorkItem | None) -> None:
        self.item = item
        self.wake.release()


# What _next_item returns to a worker that should end (shutdown, or the limit was
# lowered): a marker, compared by identity, that no real work item can be.
_RETIRE = cast(_WorkItem, object())


class ThreadWorkers(concurrent.futures.Executor):
    """The default pool for sync functions: up to ``max_workers`` daemon threads.

    Threads start on demand and are reused, the most recently idle first: a
    call goes straight to a parked worker, and after a burst, sequential
    calls keep running on one warm thread rather than rotating through all.
    A thread left idle for ``idle_timeout`` seconds ends (None: never), so
    the threads of a past burst do not stay for the life of the program.
    They are daemons, so a blocking call that never returns cannot keep the
    interpreter from exiting.

        >>> pool = ThreadWorkers(max_workers=2)
        >>> pool.submit(sum, [1, 2, 3]).result()
        6
    """

    def __init__(
        self,
        max_workers: int | None = None,
        thread_name_prefix: str = "unsync-worker",
        *,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, not {max_workers}")
        if idle_timeout is not None and not 0 < idle_timeout <= threading.TIMEOUT_MAX:
            raise ValueError(
                "idle_timeout must be a number of seconds above 0 and at most threading.TIMEOUT_MAX "
                f"(None: threads never retire), not {idle_timeout}"
            )
        self.max_workers: int = max_workers or DEFAULT_MAX_THREADS
        self._idle_timeout = -1 if idle_timeout is None else idle_timeout
        self._name_prefix = thread_name_prefix
        self._thread_numbers = itertools.count()
        self._lock = threading.Lock()
        self._idle: list[_IdleWorker] = []  # a stack: the last to park is woken first
        self._pending: deque[_WorkItem] = deque()  # calls waiting for a worker
        self._threads: list[threading.Thread] = []
        self._shut_down = False
        os.register_at_fork(after_in_child=self._forget_after_fork)

    def run(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], future: Unfuture[T]) -> None:
        """Run ``fn(*args, **kwargs)`` in a worker, in the caller's context; settle ``future``."""
        item: _WorkItem = (contextvars.copy_context(), fn, args, kwargs, future)
        new_thread = None
        with self._lock:
            if self._shut_down:
                raise RuntimeError("this thread pool has been shut down; it accepts no more work")
            if self._idle:
                worker = self._idle.pop()
            else:
                self._pending.append(item)
                if len(self._threads) >= self.max_workers:
                    return
                new_thread = threading.Thread(
                    target=self._work, name=f"{self._name_prefix}-{next(self._thread_numbers)}", daemon=True
                )
                self._threads.append(new_thread)
        if new_thread is None:
            worker.hand_over(item)
        else:
            new_thread.start()

    def __repr__(self) -> str:
        with self._lock:
            # Workers woken by shutdown() end without leaving the list: count the live ones.
            threads = sum(thread.is_alive() for thread in self._threads)
            state = (
                f"max_workers={self.max_workers} threads={threads} idle={len(self._idle)} queued={len(self._pending)}"
            )
            shut_down = self._shut_down
        return f"<ThreadWorkers {state}{' shut down' if shut_down else ''}>"

    def _next_item(self, worker: _IdleWorker) -> _WorkItem | None:
        """A waiting call for this worker; None once it is parked as idle; _RETIRE if it should end."""
        with self._lock:
            if self._pending:
                return self._pending.popleft()
            if self._shut_down or len(self._threads) > self.max_workers:
                # Shut down, or the limit was lowered: surplus workers end as they finish.
                self._threads.remove(threading.current_thread())
                return _RETIRE
            self._idle.append(worker)
            return None

    def _retire_if_still_idle(self, worker: _IdleWorker) -> bool:
        """End a worker whose wait timed out, unless a call is being handed to it right now."""
        with self._lock:
            if worker not in self._idle:
                return False
            self._idle.remove(worker)
            self._threads.remove(threading.current_thread())
            return True

    def _work(self) -> None:
        worker = _IdleWorker()
        item = self._next_item(worker)
        while item is not _RETIRE:
            if item is None:  # parked: wait to be handed a call
                if not worker.wake.acquire(timeout=self._idle_timeout):
                    if self._retire_if_still_idle(worker):
                        return
                    worker.wake.acquire()
                item, worker.item = worker.item, None
                if item is None:  # shut down while parked
                    return
            context, fn, args, kwargs, future = item
            if future._claim():
                value: Any = None
                error: BaseException | None = None
                try:
                    value = context.run(fn, *args, **kwargs)
                except BaseException as exc:
                    error = exc
                # Take the next call or park before settling: the woken caller
                # may submit again at once, and should find this worker idle.
                item = self._next_item(worker)
                future._settle("finished", value, error)
            else:
                item = self._next_item(worker)
            del context, fn, args, kwargs, future

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        """Run ``fn(*args, **kwargs)`` in a worker; return a `concurrent.futures.Future`."""
        future: Unfuture[T] = Unfuture()
        self.run(fn, args, kwargs, future)
        return as_concurrent_future(future)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting work; workers exit once the calls already made have run."""
        with self._lock:
            self._shut_down = True
            parked, self._idle = self._idle, []
            cancelled = list(self._pending) if cancel_futures else []
            if cancel_futures:
                self._pending.clear()
            threads = list(self._threads)
        for item in cancelled:
            item[-1].cancel()
        for worker in parked:
            worker.hand_over(None)
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()

    def _forget_after_fork(self) -> None:
        # The child has none of the parent's threads; the lock may have been held.
        self._lock = threading.Lock()
        self._idle = []
        self._pending = deque()
        self._threads = []


def run_in_thread(
    executor: concurrent.futures.Executor, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Unfuture[T]:
    """Run ``fn`` through ``executor``, in the caller's context; the default pool settles directly."""
    if isinstance(executor, ThreadWorkers):
        future: Unfuture[T] = Unfuture()
        executor.run(fn, args, kwargs, future)
        return future
    return Unfuture(executor.submit(contextvars.copy_context().run, fn, *args, **kwargs))
