"""The ambient loop's thread, started the cheapest way its backend allows.

`_anyio_portal` reaches into that thread through four operations only (the
`LoopThread` protocol).  On trio they are anyio's blocking portal.  On
asyncio they are a plain ``asyncio.Runner`` in a thread: anyio's portal
would import anyio's whole asyncio backend (sockets, streams, TLS) to start,
which was most of the cost of a program's first call.  anyio still works in
the ambient loop's tasks; it loads that backend the first time a task uses it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

THREAD_NAME = "unsync-ambient-loop"


class LoopThread(Protocol):
    """A running event loop in a thread of its own, as the ambient loop uses it."""

    def start_task(self, fn: Callable[..., Awaitable[Any]]) -> None:
        """Run ``fn(task_status=...)`` as a task; return once it has called ``task_status.started()``."""

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``fn(*args)`` on the loop and wait for its value."""

    def start_task_soon(self, fn: Callable[..., Awaitable[T]], *args: Any) -> concurrent.futures.Future[T]:
        """Run ``fn(*args)`` on the loop; its future."""

    def close(self) -> None:
        """Wait for the tasks started here to end, stop the loop and wait for its thread."""


def start_loop_thread(backend: str, options: dict[str, Any]) -> LoopThread:
    if backend == "asyncio":
        return AsyncioThread(options)
    return PortalThread(backend, options)


class PortalThread:
    """anyio's blocking portal, for trio."""

    def __init__(self, backend: str, options: dict[str, Any]) -> None:
        from anyio.from_thread import start_blocking_portal

        self._portal_cm = start_blocking_portal(backend, options, name=THREAD_NAME)
        self._portal = self._portal_cm.__enter__()

    def start_task(self, fn: Callable[..., Awaitable[Any]]) -> None:
        self._portal.start_task(fn)

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return self._portal.call(fn, *args)

    def start_task_soon(self, fn: Callable[..., Awaitable[T]], *args: Any) -> concurrent.futures.Future[T]:
        return self._portal.start_task_soon(fn, *args)

    def close(self) -> None:
        self._portal_cm.__exit__(None, None, None)


class TaskStarted:
    """The ``task_status`` handed to a task started with `AsyncioThread.start_task`."""

    __slots__ = ("future",)

    def __init__(self) -> None:
        self.future: concurrent.futures.Future[None] = concurrent.futures.Future()

    def started(self, value: None = None) -> None:
        self.future.set_result(value)


class AsyncioThread:
    """An asyncio loop (uvloop with ``use_uvloop=True``) run by ``asyncio.Runner`` in a daemon thread.

    It takes the options anyio's asyncio backend takes (``debug``,
    ``use_uvloop``, ``loop_factory``).
    """

    def __init__(self, options: dict[str, Any]) -> None:
        unknown = set(options) - {"debug", "use_uvloop", "loop_factory"}
        if unknown:
            raise TypeError(f"unknown options for the asyncio backend: {', '.join(sorted(unknown))}")
        loop_factory = options.get("loop_factory")
        if options.get("use_uvloop") and loop_factory is None:
            import uvloop

            loop_factory = uvloop.new_event_loop
        self._runner = asyncio.Runner(debug=options.get("debug"), loop_factory=loop_factory)
        self._tasks: set[concurrent.futures.Future[Any]] = set()
        self._running: concurrent.futures.Future[asyncio.AbstractEventLoop] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread.start()
        self.loop = self._running.result()  # or what kept the loop from starting

    def _run(self) -> None:
        try:
            with self._runner:
                self._runner.run(self._serve())
        except BaseException as exc:
            if not self._running.done():
                self._running.set_exception(exc)
            raise

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self._running.set_result(asyncio.get_running_loop())
        await self._stop.wait()

    def start_task(self, fn: Callable[..., Awaitable[Any]]) -> None:
        status = TaskStarted()
        task = self.start_task_soon(lambda: fn(task_status=status))
        concurrent.futures.wait([status.future, task], return_when=concurrent.futures.FIRST_COMPLETED)
        if not status.future.done():
            task.result()  # it failed (or ended) before it started
            raise RuntimeError(f"{fn!r} ended without reporting that it had started")

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return self.start_task_soon(fn, *args).result()

    def start_task_soon(self, fn: Callable[..., Awaitable[T]], *args: Any) -> concurrent.futures.Future[T]:
        future = asyncio.run_coroutine_threadsafe(_as_coroutine(fn, args), self.loop)
        self._tasks.add(future)
        future.add_done_callback(self._tasks.discard)
        return future

    def close(self) -> None:
        concurrent.futures.wait(list(self._tasks))
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()


async def _as_coroutine(fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> T:
    # run_coroutine_threadsafe takes a coroutine; the function is called on the loop.
    return await fn(*args)
