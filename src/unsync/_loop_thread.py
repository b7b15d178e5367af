"""The ambient loop's thread, started the cheapest way its backend allows.

`_anyio_portal` starts the loop with its first task (the spawner's) and then
reaches into the thread through the `LoopThread` protocol only.  On trio
that is anyio's blocking portal.  On asyncio it is a plain ``asyncio.Runner``
in a thread that starts the first task itself: anyio's portal would import
anyio's whole asyncio backend (sockets, streams, TLS) to start, and waiting
for it took three round trips into the new thread; together they were most
of the cost of a program's first call.  anyio still works in the ambient
loop's tasks: it loads that backend the first time a task uses it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

THREAD_NAME = "unsync-ambient-loop"


class LoopThread(Protocol):
    """A running event loop in a thread of its own, as the ambient loop uses it."""

    started_with: Any  # what the first task reported as it started
    # The first task's outcome: cancelled if the loop was torn down under it
    # (stopped by code outside unsync) before it ended.
    serving: concurrent.futures.Future[Any]

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``fn(*args)`` on the loop and wait for its value."""

    def start_task_soon(self, fn: Callable[..., Awaitable[T]], *args: Any) -> concurrent.futures.Future[T]:
        """Run ``fn(*args)`` on the loop; its future."""

    def close(self) -> None:
        """Wait for the tasks started here (the first one too) to end, stop the loop and wait for its thread.

        Interrupted, it can be called again to finish the job.
        """


def start_loop_thread(backend: str, options: dict[str, Any], first: Callable[..., Awaitable[Any]]) -> LoopThread:
    """Start the loop with ``first(task_status=...)`` as its first task; return once that task has started."""
    if backend == "asyncio":
        return AsyncioThread(options, first)
    return PortalThread(backend, options, first)


class PortalThread:
    """anyio's blocking portal, for trio."""

    def __init__(self, backend: str, options: dict[str, Any], first: Callable[..., Awaitable[Any]]) -> None:
        from anyio.from_thread import start_blocking_portal

        self._portal_cm = start_blocking_portal(backend, options, name=THREAD_NAME)
        self._portal = self._portal_cm.__enter__()
        try:
            self.serving, self.started_with = self._portal.start_task(first)
            self._thread = self._portal.call(_current_thread)
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            raise

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return self._portal.call(fn, *args)

    def start_task_soon(self, fn: Callable[..., Awaitable[T]], *args: Any) -> concurrent.futures.Future[T]:
        return self._portal.start_task_soon(fn, *args)

    def close(self) -> None:
        self._portal_cm.__exit__(None, None, None)  # it exits only once: again, it does nothing
        if self._thread.is_alive():
            # A first close was interrupted: stop the portal, if it was not, and wait for the thread.
            with contextlib.suppress(RuntimeError):
                self._portal.call(self._portal.stop, True)
            self._thread.join()


class TaskStarted:
    """The ``task_status`` of `AsyncioThread`'s first task: a future of what it reports."""

    __slots__ = ("future",)

    def __init__(self) -> None:
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def started(self, value: Any = None) -> None:
        self.future.set_result(value)


class AsyncioThread:
    """An asyncio loop (uvloop with ``use_uvloop=True``) run by ``asyncio.Runner`` in a daemon thread.

    It takes the options anyio's asyncio backend takes (``debug``,
    ``use_uvloop``, ``loop_factory``).  The loop starts its first task
    itself, so that starting costs the caller one wait for the new thread.
    """

    def __init__(self, options: dict[str, Any], first: Callable[..., Awaitable[Any]]) -> None:
        unknown = set(options) - {"debug", "use_uvloop", "loop_factory"}
        if unknown:
            raise TypeError(f"unknown options for the asyncio backend: {', '.join(sorted(unknown))}")
        loop_factory = options.get("loop_factory")
        if options.get("use_uvloop") and loop_factory is None:
            import uvloop

            loop_factory = uvloop.new_event_loop
        self._runner = asyncio.Runner(debug=options.get("debug"), loop_factory=loop_factory)
        self._tasks: set[concurrent.futures.Future[Any]] = set()
        self._first = TaskStarted()
        self.serving: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(first,), name=THREAD_NAME, daemon=True)
        self._thread.start()
        try:
            self.started_with = self._first.future.result()
        except BaseException:
            self.close()
            raise

    def _run(self, first: Callable[..., Awaitable[Any]]) -> None:
        # Whatever ends the loop is reported through the two futures, as a
        # portal's thread would: code outside unsync may stop it (loop.stop()).
        try:
            with self._runner:
                self._runner.run(self._serve(first))
        except BaseException as exc:
            if not self._first.future.done():
                self._first.future.set_exception(exc)
            self.serving.cancel()  # no-op if the first task had ended

    async def _serve(self, first: Callable[..., Awaitable[Any]]) -> None:
        self.loop = asyncio.get_running_loop()
        self._stopping = self.loop.create_future()  # for close() from any thread
        first_task = asyncio.ensure_future(first(task_status=self._first))
        first_task.add_done_callback(self._first_task_done)
        await self._stopping
        await asyncio.wait([first_task])

    def _first_task_done(self, task: asyncio.Future[Any]) -> None:
        problem = None if task.cancelled() else task.exception()
        if not self._first.future.done():
            self._first.future.set_exception(problem or RuntimeError("the loop's first task ended before it started"))
        if task.cancelled():
            self.serving.cancel()
        elif problem is not None:
            self.serving.set_exception(problem)
        else:
            self.serving.set_result(task.result())

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return self.start_task_soon(fn, *args).result()

    def start_task_soon(self, fn: Callable[..., Awaitable[T]], *args: Any) -> concurrent.futures.Future[T]:
        future = asyncio.run_coroutine_threadsafe(_as_coroutine(fn, args), self.loop)
        self._tasks.add(future)
        future.add_done_callback(self._tasks.discard)
        return future

    def close(self) -> None:
        if self._thread.is_alive() and hasattr(self, "_stopping"):
            concurrent.futures.wait(list(self._tasks))
            with contextlib.suppress(RuntimeError):  # the loop has ended meanwhile
                self.loop.call_soon_threadsafe(self._stop_serving)
        self._thread.join()

    def _stop_serving(self) -> None:
        if not self._stopping.done():  # a close that was interrupted asks again
            self._stopping.set_result(None)


async def _current_thread() -> threading.Thread:
    return threading.current_thread()


async def _as_coroutine(fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> T:
    # run_coroutine_threadsafe takes a coroutine; the function is called on the loop.
    return await fn(*args)
