"""Work off the loop: a thread pool for blocking calls, worker processes for CPU work.

`ThreadWorkers` is a `concurrent.futures.Executor` whose fast path settles an
`Unfuture` straight from the worker thread: a round trip is one hand-off to a
worker and one wake-up of the caller, as with a bare ThreadPoolExecutor.  The
caller's contextvars are visible in the worker.

CPU work is sent to other processes *by reference*: the module attribute of an
``@unsync(cpu_bound=True)`` function is the decorator's wrapper, which pickle
refuses to treat as the function itself.  `FunctionReference` names the
function by module and qualified name, and the worker unwraps whatever it
finds there back to the original.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from queue import SimpleQueue
from typing import Any, TypeVar

import anyio.to_process

from ._anyio_portal import ambient_loop
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
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._shut_down = False
        os.register_at_fork(after_in_child=self._forget_after_fork)

    def run(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], future: Unfuture[T]) -> None:
        """Run ``fn(*args, **kwargs)`` in a worker, in the caller's context; settle ``future``."""
        if self._shut_down:
            raise RuntimeError("this thread pool has been shut down; it accepts no more work")
        self._queue.put((contextvars.copy_context(), fn, args, kwargs, future))
        if not self._idle.acquire(blocking=False):
            self._add_thread()

    def _add_thread(self) -> None:
        with self._lock:
            if len(self._threads) >= self.max_workers:
                return
            thread = threading.Thread(target=self._work, name=f"{self._name_prefix}-{len(self._threads)}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        queue = self._queue
        while (item := queue.get()) is not None:
            context, fn, args, kwargs, future = item
            if future._claim():
                try:
                    value = context.run(fn, *args, **kwargs)
                except BaseException as exc:
                    future._settle("finished", None, exc)
                else:
                    future._settle("finished", value, None)
            del item, context, fn, args, kwargs, future
            self._idle.release()
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
        self._idle = threading.Semaphore(0)
        self._threads = []
        self._lock = threading.Lock()


@dataclass(frozen=True)
class FunctionReference:
    """Names a module-level function so a worker process can import it."""

    module: str
    qualname: str

    @classmethod
    def to(cls, fn: Callable[..., Any]) -> FunctionReference:
        """A reference to ``fn``; `TypeError` if no other process could import it."""
        name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
        module = getattr(fn, "__module__", None)
        if name is None or module is None:
            raise TypeError(f"{fn!r} cannot run in another process: it has no module and name to import it by")
        if "<lambda>" in name:
            raise TypeError(
                f"{fn!r} cannot run in another process: a lambda cannot be imported there; "
                "define it with `def` at module level"
            )
        if "<locals>" in name:
            raise TypeError(
                f"{name} cannot run in another process: it is defined inside another function; move it to module level"
            )
        if module == "__main__" and not getattr(sys.modules.get("__main__"), "__file__", None):
            raise TypeError(
                f"{name} cannot run in another process: it was defined in an interactive session; "
                "put it in a module (a .py file) and import it"
            )
        return cls(module, name)

    def resolve(self) -> Callable[..., Any]:
        """Import the function and unwrap it back to the undecorated original."""
        __import__(self.module)
        found: Any = sys.modules[self.module]
        for part in self.qualname.split("."):
            found = getattr(found, part)
        while getattr(found, "__unsync_wrapper__", False):
            found = found.__wrapped__
        return found  # type: ignore[no-any-return]


def call_by_reference(reference: FunctionReference, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Worker-side entry point: resolve ``reference`` and call it."""
    return reference.resolve()(*args, **kwargs)


async def _run_in_worker_process(reference: FunctionReference, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return await anyio.to_process.run_sync(call_by_reference, reference, args, kwargs, cancellable=True)


class ProcessWorkers(concurrent.futures.Executor):
    """The default pool for ``cpu_bound`` functions: anyio's worker processes.

    Workers are started with a fresh interpreter (like the spawn method), get
    the caller's ``sys.path``, and are reused between calls.  Calls run
    through the ambient loop, so cancelling a running call terminates its
    worker.
    """

    def run_by_reference(
        self, reference: FunctionReference, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Unfuture[Any]:
        return ambient_loop.submit(_run_in_worker_process, (reference, args, kwargs), {})

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        """Run the module-level function ``fn`` in a worker process."""
        return as_concurrent_future(self.run_by_reference(FunctionReference.to(fn), args, kwargs))


def run_in_process(
    executor: concurrent.futures.Executor, reference: FunctionReference, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Unfuture[Any]:
    """Run the referenced function through ``executor``; the default pool runs it natively."""
    if isinstance(executor, ProcessWorkers):
        return executor.run_by_reference(reference, args, kwargs)
    return Unfuture(executor.submit(call_by_reference, reference, args, kwargs))


def run_in_thread(
    executor: concurrent.futures.Executor, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Unfuture[T]:
    """Run ``fn`` through ``executor``, in the caller's context; the default pool settles directly."""
    if isinstance(executor, ThreadWorkers):
        future: Unfuture[T] = Unfuture()
        executor.run(fn, args, kwargs, future)
        return future
    return Unfuture(executor.submit(contextvars.copy_context().run, fn, *args, **kwargs))
