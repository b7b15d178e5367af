"""What differs between asyncio and trio, behind one interface; one module per backend.

A `TaskSpawner` lives on the ambient loop's thread.  It runs coroutines in
tasks that start and settle an `Unfuture` through the producer interface,
cancels one call on request from any thread, and at shutdown cancels (or
waits for) every call it started.  Each backend module also knows how a task
of its library waits for an Unfuture settled by another thread
(`wait_until_done`).  Everything else (the portal, the thread, submission
batching) is backend-neutral and lives in `_anyio_portal`.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools
import importlib
import os
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import sniffio

if TYPE_CHECKING:
    import asyncio

    from anyio.abc import TaskStatus

    from .._future import Unfuture

T = TypeVar("T")

CoroutineFunction = Callable[..., Coroutine[Any, Any, Any]]

BACKENDS = ("asyncio", "trio")


class Submission:
    """A call on its way to a spawner: what to run, in which context, and the Unfuture it settles."""

    __slots__ = ("args", "context", "fn", "future", "kwargs")

    def __init__(
        self,
        fn: CoroutineFunction,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: contextvars.Context | None,
        future: Unfuture[Any],
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.context = context  # None: the spawning task's own
        self.future = future


class TaskSpawner(Protocol):
    """Runs coroutines as tasks on the ambient loop (called on its thread)."""

    async def serve(self, *, task_status: TaskStatus[None]) -> None:
        """Run for the loop's whole life; report started once spawning works."""
        ...

    def spawn(self, submission: Submission) -> None:
        """Start the submitted call, unless its Unfuture was cancelled first; settle it when it ends."""
        ...

    def spawn_here(
        self, fn: CoroutineFunction, args: tuple[Any, ...], kwargs: dict[str, Any], into: Unfuture[Any] | None
    ) -> Unfuture[Any]:
        """`spawn` for a call made on the loop's own thread, in its current context; return its Unfuture."""
        ...

    def make_waker(self, handler: Callable[[], object]) -> Callable[[], None]:
        """A function any thread may call to have the loop call ``handler()`` soon.

        Called on the loop.  Once the loop has stopped, the function raises
        `anyio.RunFinishedError` or does nothing.
        """
        ...

    async def aclose(self, cancel: bool, grace_period: float | None) -> None:
        """Cancel (or wait for) every task; return when they have all ended."""
        ...

    def calls(self) -> list[Unfuture[Any]]:
        """The Unfutures of the calls it was handed and has not settled (a forked child fails them)."""
        ...

    def task_of(self, future: Unfuture[Any]) -> object | None:
        """The task that runs ``future``'s call now, if any; any thread may ask (the deadlock check does)."""
        ...

    def abandon(self) -> list[Unfuture[Any]]:
        """Once the loop has ended without `aclose` (torn down outside unsync): cancel the calls that
        had started, and return the unsettled ones that never did."""
        ...

    @property
    def asyncio_loop(self) -> asyncio.AbstractEventLoop:
        """The asyncio event loop it runs on; `RuntimeError` if it is not asyncio."""
        ...


def backend_module(backend: str) -> Any:
    """The module that implements ``backend`` (imported on first use: trio only when needed)."""
    return importlib.import_module(f"._{backend}", __name__)


def make_spawner(backend: str) -> TaskSpawner:
    """The spawner for ``backend`` ("asyncio" or "trio")."""
    spawner: TaskSpawner = backend_module(backend).Spawner()
    return spawner


def in_event_loop() -> bool:
    """True if this thread runs an event loop of a library unsync supports (ours or the user's)."""
    # A library that was never imported runs no loop, and is not imported for asking.
    return any(library in sys.modules and backend_module(library).loop_runs_here() for library in BACKENDS)


# Each library's waiter, once its module has been imported.
waiters: dict[str, Callable[[Unfuture[Any]], Awaitable[None]]] = {}


async def wait_until_done(future: Unfuture[Any]) -> None:
    """Return once ``future`` is done, from a task of whichever library runs this thread.

    If ``future`` was cancelled, raise that library's cancellation (asyncio)
    or let ``result()`` report it.  If the calling task is cancelled first,
    ``future`` is cancelled too, as awaiting an asyncio task does.
    """
    library = sniffio.current_async_library()
    waiter = waiters.get(library)
    if waiter is None:
        if library not in BACKENDS:
            raise RuntimeError(
                f"an Unfuture can be awaited under asyncio (uvloop included) or trio, not under {library}"
            )
        waiter = waiters[library] = backend_module(library).wait_until_done
    await waiter(future)


def wake_through_anyio(handler: Callable[[], object]) -> Callable[[], None]:
    """`TaskSpawner.make_waker` for any backend: anyio's ``run_sync_soon`` (call on the loop)."""
    import anyio.lowlevel

    token = anyio.lowlevel.current_token()
    return functools.partial(token.backend_class.run_sync_soon, handler, (), token.native_token)


class EventfdWaker:
    """A wake-up signal through a Linux eventfd: one write to wake the loop, one read once it is awake.

    The backends' own thread-safe wake-ups (asyncio's ``call_soon_threadsafe``,
    trio's ``TrioToken.run_sync_soon``) write a byte to a socket that the loop
    then drains with two reads, the second ending in `BlockingIOError`, and
    anyio's ``run_sync_soon`` copies a context on top (docs/benchmarks.md
    has what that costs).  The loop watches `fd` (each spawner in its own
    way) and calls `reset` when it becomes readable.  The eventfd is closed
    only when the waker is garbage-collected, so a thread still holding
    `wake` never writes to a closed, or reused, descriptor.
    """

    def __init__(self) -> None:
        self.fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        close_fd = weakref.finalize(self, os.close, self.fd)
        close_fd.atexit = False  # daemon threads may still call wake() at exit

    def wake(self) -> None:
        """From any thread: make `fd` readable."""
        os.eventfd_write(self.fd, 1)

    def reset(self) -> None:
        """On the loop, once `fd` is readable: any number of wake() calls so far count as one."""
        os.eventfd_read(self.fd)


def has_eventfd() -> bool:
    """True where the loop can be woken through an eventfd (Linux)."""
    return hasattr(os, "eventfd")


class LoopCall:
    """Runs a function on a loop from another thread and waits for its answer.

    `Unfuture.cancel` must say whether its cancellation reached the work,
    which only the loop's thread can tell: the call is scheduled there
    through ``schedule`` and the caller waits for the answer.  If the loop
    ends first (its thread is gone), the answer is False.
    """

    __slots__ = ("answer", "done", "fn")

    def __init__(self, fn: Callable[[], bool]) -> None:
        self.fn = fn
        self.answer = False
        self.done = threading.Event()

    def run(self) -> None:
        try:
            self.answer = self.fn()
        finally:
            self.done.set()

    def wait(self, schedule: Callable[[Callable[[], None]], object], loop_thread: threading.Thread) -> bool:
        try:
            schedule(self.run)
        except RuntimeError:  # the loop is closed (asyncio) or finished (trio)
            return False
        while not self.done.wait(0.05):
            if not loop_thread.is_alive():
                return False
        return self.answer


# -- the ambient loop's thread -----------------------------------------------------------

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
    """Start ``backend``'s loop in a thread of its own, the cheapest way that backend allows.

    ``first(task_status=...)`` is its first task; this returns once that task
    has started.  On trio that is anyio's blocking portal; on asyncio, a
    plain ``asyncio.Runner`` (see its module for why).
    """
    loop_thread: LoopThread = backend_module(backend).start_loop_thread(options, first)
    return loop_thread
