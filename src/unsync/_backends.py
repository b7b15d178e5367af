"""What differs between asyncio and trio in the ambient loop, behind one interface.

A `TaskSpawner` lives on the ambient loop's thread.  It runs coroutines in
tasks that settle an `Unfuture`, cancels one call on request from any thread,
and at shutdown cancels (or waits for) every call it started.  Everything else
(the portal, the thread, submission batching) is backend-neutral and lives in
`_anyio_portal`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import math
import os
import weakref
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol, cast

import anyio
from anyio.abc import TaskStatus

from ._future import Unfuture

if TYPE_CHECKING:
    import trio

CoroutineFunction = Callable[..., Coroutine[Any, Any, Any]]


class TaskSpawner(Protocol):
    """Runs coroutines as tasks on the ambient loop (called on its thread)."""

    async def serve(self, *, task_status: TaskStatus[None]) -> None:
        """Run for the loop's whole life; report started once spawning works."""

    def spawn(
        self,
        fn: CoroutineFunction,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: contextvars.Context | None,
        future: Unfuture[Any],
    ) -> None:
        """Start ``fn(*args, **kwargs)`` in ``context`` (None: the current one); settle ``future``."""

    def spawn_here(self, fn: CoroutineFunction, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Unfuture[Any]:
        """`spawn` for a call made on the loop's own thread, in its current context; return its new Unfuture."""

    def make_waker(self, handler: Callable[[], object]) -> Callable[[], None]:
        """A function any thread may call to have the loop call ``handler()`` soon.

        Called on the loop.  Once the loop has stopped, the function raises
        `anyio.RunFinishedError` or does nothing.
        """

    async def aclose(self, cancel: bool, grace_period: float | None) -> None:
        """Cancel (or wait for) every task; return when they have all ended."""


class AsyncioSpawner:
    """Spawns plain asyncio tasks: the cheapest way to run a coroutine on asyncio."""

    def __init__(self) -> None:
        # asyncio keeps only weak references to tasks: this keeps them alive,
        # with the Unfuture each one settles.
        self._tasks: dict[asyncio.Task[Any], Unfuture[Any]] = {}
        self._loop: asyncio.AbstractEventLoop  # set by serve(), before any spawn
        self._stdlib_create_task = False
        self._watched_fd: int | None = None  # an EventfdWaker's, while the loop watches it
        self._accepting = True  # until aclose() has ended every task
        self._closed = anyio.Event()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    async def serve(self, *, task_status: TaskStatus[None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stdlib_create_task = type(self._loop).create_task is asyncio.BaseEventLoop.create_task
        task_status.started()
        await self._closed.wait()

    def spawn(
        self,
        fn: CoroutineFunction,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: contextvars.Context | None,
        future: Unfuture[Any],
    ) -> None:
        if not self._accepting:
            future._set_cancelled()
            return
        task = self._new_task(self._run_task(fn, args, kwargs, future), context)
        if future._claim(self._cancel, task):
            self._tasks[task] = future
            if asyncio.current_task(self._loop) is None and not self._loop.get_debug():
                self._take_first_step_now(task)
        else:  # cancelled while queued
            task.cancel()

    def spawn_here(self, fn: CoroutineFunction, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Unfuture[Any]:
        future: Unfuture[Any] = Unfuture()
        if not self._accepting:
            future._set_cancelled()
            return future
        task = self._new_task(self._run_task(fn, args, kwargs, future), None)
        future._claim_unshared(self._cancel, task)
        self._tasks[task] = future
        return future

    def make_waker(self, handler: Callable[[], object]) -> Callable[[], None]:
        if hasattr(os, "eventfd"):  # Linux
            waker = EventfdWaker()
            with contextlib.suppress(NotImplementedError):  # a loop that cannot watch file descriptors
                self._loop.add_reader(waker.fd, self._on_wake, waker, handler)
                self._watched_fd = waker.fd
                return waker.wake
        return wake_through_anyio(handler)

    @staticmethod
    def _on_wake(waker: EventfdWaker, handler: Callable[[], object]) -> None:
        waker.reset()
        handler()

    def _new_task(self, coro: Coroutine[Any, Any, None], context: contextvars.Context | None) -> asyncio.Task[None]:
        # Settling inside the task (_run_task), not from a done callback, saves
        # a loop iteration.  On the stdlib loop with no task factory, making
        # the Task directly is what create_task does, minus a Python frame:
        # 4% of the instructions of a call made on the loop (callgrind).
        loop = self._loop
        if self._stdlib_create_task and loop.get_task_factory() is None:
            return asyncio.Task(coro, loop=loop, context=context)
        return loop.create_task(coro, context=context)

    def _take_first_step_now(self, task: asyncio.Task[Any]) -> None:
        """Run a new task's first step at once (from a callback, never from a task).

        A new task's first step runs in the loop's next iteration, after a
        round through the selector.  Most calls finish in that first step, so
        taking it now settles them, and wakes their callers, one iteration
        earlier: a sixth of a round trip across cores, as measured here.
        Python 3.12 offers the same as ``Task(eager_start=True)``; on every
        version, the stdlib loop keeps the step's handle last in its ready
        queue, and skips a cancelled handle.  Any other loop (uvloop), or a
        last handle that is not this task's step, leaves the task to start
        as usual.  So does asyncio's debug mode, whose report of a slow step
        should name the call's task, not the callback that spawned it.
        """
        ready = getattr(self._loop, "_ready", None)
        if not ready:
            return
        handle = ready[-1]
        if getattr(getattr(handle, "_callback", None), "__self__", None) is not task:
            return
        step, context = handle._callback, handle._context
        handle.cancel()
        context.run(step)

    def _cancel(self, future: Unfuture[Any]) -> bool:
        # Any thread may cancel; the task is cancelled on its loop.
        if asyncio._get_running_loop() is self._loop:
            self._cancel_on_loop(future._work)
        else:
            self._loop.call_soon_threadsafe(self._cancel_on_loop, future._work)
        return True

    def _cancel_on_loop(self, task: asyncio.Task[None]) -> None:
        run_task = cast(Coroutine[Any, Any, None], task.get_coro())  # a _run_task coroutine
        if inspect.getcoroutinestate(run_task) == inspect.CORO_CREATED:
            # Cancelled before its first step, the task would never enter
            # _run_task to settle the call: settle it here.  As with any
            # asyncio task cancelled that early, the call never runs.
            task.cancel()
            self._tasks.pop(task)._set_cancelled()
        else:
            task.cancel()

    async def _run_task(
        self, fn: CoroutineFunction, args: tuple[Any, ...], kwargs: dict[str, Any], future: Unfuture[Any]
    ) -> None:
        # The coroutine is made here, in the task: a task cancelled before its
        # first step then leaves no coroutine that was never awaited.  The
        # outcome lives in the Unfuture only: a task that kept the exception
        # too would have asyncio log it as never retrieved.
        try:
            value = await fn(*args, **kwargs)
        except asyncio.CancelledError:
            future._set_cancelled()
            raise
        except BaseException as exc:
            future._settle("finished", None, exc)
        else:
            future._settle("finished", value, None)
        finally:
            del self._tasks[future._work]

    async def aclose(self, cancel: bool, grace_period: float | None) -> None:
        with anyio.move_on_after(math.inf if grace_period is None else grace_period):
            while self._tasks:
                if cancel:
                    for task in self._tasks:
                        task.cancel()
                await asyncio.wait(set(self._tasks))
                # A task cancelled before its first step never ran _run_task.
                for task in [task for task in self._tasks if task.done()]:
                    self._tasks.pop(task)._set_cancelled()
        self._accepting = False
        if self._watched_fd is not None:
            self._loop.remove_reader(self._watched_fd)
        self._closed.set()


def wake_through_anyio(handler: Callable[[], object]) -> Callable[[], None]:
    """`TaskSpawner.make_waker` for any backend: anyio's ``run_sync_soon`` (call on the loop)."""
    token = anyio.lowlevel.current_token()
    return functools.partial(token.backend_class.run_sync_soon, handler, (), token.native_token)


class EventfdWaker:
    """A wake-up signal through a Linux eventfd: one write to wake the loop, one read once it is awake.

    The backends' own thread-safe wake-ups (asyncio's ``call_soon_threadsafe``,
    trio's ``TrioToken.run_sync_soon``) write a byte to a socket that the loop
    then drains with two reads, the second ending in `BlockingIOError`, and
    anyio's ``run_sync_soon`` copies a context on top: measured here, that is
    a quarter of a round trip on either backend.  The loop watches `fd` (each
    spawner in its own way) and calls `reset` when it becomes readable.  The
    eventfd is closed only when the waker is garbage-collected, so a thread
    still holding `wake` never writes to a closed, or reused, descriptor.
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


# A call as a trio runner receives it: fn, args, kwargs and the Unfuture to settle.
_Call = tuple[CoroutineFunction, tuple[Any, ...], dict[str, Any], Unfuture[Any]]

# Runners kept waiting for calls once a burst is over; the rest end.
MAX_IDLE_RUNNERS = 64


class TrioSpawner:
    """Runs coroutines in reusable trio tasks ("runners") in one long-lived nursery.

    Each call must be cancellable on its own, which in trio takes a cancel
    scope.  A new task with a new scope per call costs more than the rest of
    a call through unsync, so a runner runs calls one after another inside
    one scope, replaced only once a call was cancelled through it.  Between
    calls an idle runner sleeps in `trio.lowlevel.wait_task_rescheduled`; the
    next call is handed to it with the caller's context as the task's
    context, which is how trio's own ``from_thread`` runs code in a task it
    did not create for it.
    """

    def __init__(self) -> None:
        import outcome
        import trio

        self._trio = trio
        self._outcome = outcome
        self._nursery: trio.Nursery | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._idle: list[_Runner] = []
        self._runners = 0
        self._accepting = True  # until aclose() has cancelled every call
        # What idle runners hold as their context, rather than the last caller's.
        self._idle_context = contextvars.Context()
        self._closing = trio.Event()
        self._all_idle: trio.Event | None = None

    async def serve(self, *, task_status: TaskStatus[None]) -> None:
        trio = self._trio
        self._token = trio.lowlevel.current_trio_token()
        self._idle_context = contextvars.copy_context()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await self._closing.wait()

    def spawn(
        self,
        fn: CoroutineFunction,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: contextvars.Context | None,
        future: Unfuture[Any],
    ) -> None:
        if not self._accepting:
            future._set_cancelled()
            return
        call = (fn, args, kwargs, future)
        if self._idle:
            self._idle.pop().hand_over(call, contextvars.copy_context() if context is None else context)
            return
        assert self._nursery is not None
        runner = _Runner(self)
        self._runners += 1
        start = functools.partial(self._nursery.start_soon, runner.serve, call, name="unsync runner")
        # trio runs the new task in a copy of the spawning context.
        if context is None:
            start()
        else:
            context.run(start)

    def spawn_here(self, fn: CoroutineFunction, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Unfuture[Any]:
        future: Unfuture[Any] = Unfuture()
        self.spawn(fn, args, kwargs, None, future)
        return future

    def make_waker(self, handler: Callable[[], object]) -> Callable[[], None]:
        if hasattr(os, "eventfd"):  # Linux
            assert self._nursery is not None
            waker = EventfdWaker()
            # The nursery's cancellation at aclose() ends the watch.
            self._nursery.start_soon(self._watch, waker, handler, name="unsync waker")
            return waker.wake
        return wake_through_anyio(handler)

    async def _watch(self, waker: EventfdWaker, handler: Callable[[], object]) -> None:
        while True:
            await self._trio.lowlevel.wait_readable(waker.fd)
            waker.reset()
            handler()

    def cancel_soon(self, future: Unfuture[Any]) -> bool:
        """Cancel the running call that settles ``future``; any thread."""
        assert self._token is not None
        self._token.run_sync_soon(future._work.cancel_call, future)
        return True

    def runner_ended(self) -> None:
        self._runners -= 1
        self._check_all_idle()

    def _check_all_idle(self) -> None:
        if self._all_idle is not None and self._runners == len(self._idle):
            self._all_idle.set()

    async def next_call(self, runner: _Runner) -> _Call | None:
        """Wait, idle, until a call is handed to ``runner``; None: the runner should end."""
        if len(self._idle) >= MAX_IDLE_RUNNERS:
            return None
        self._idle.append(runner)
        runner.drop_context(self._idle_context)
        self._check_all_idle()
        call: _Call = await self._trio.lowlevel.wait_task_rescheduled(runner.stop_waiting)
        return call

    async def aclose(self, cancel: bool, grace_period: float | None) -> None:
        trio = self._trio
        assert self._nursery is not None
        if not cancel and self._runners > len(self._idle):
            self._all_idle = trio.Event()
            with trio.move_on_after(math.inf if grace_period is None else grace_period):
                await self._all_idle.wait()
        self._nursery.cancel_scope.cancel()
        self._accepting = False
        self._closing.set()


class _Runner:
    """One reusable trio task of a `TrioSpawner`, running one call at a time."""

    def __init__(self, spawner: TrioSpawner) -> None:
        self._spawner = spawner
        self._trio = spawner._trio
        self._task: trio.lowlevel.Task | None = None
        self._scope: trio.CancelScope | None = None
        self._future: Unfuture[Any] | None = None  # of the call running now

    async def serve(self, first_call: _Call) -> None:
        trio, spawner = self._trio, self._spawner
        self._task = trio.lowlevel.current_task()
        call: _Call | None = first_call
        try:
            while call is not None:
                with trio.CancelScope() as self._scope:
                    while call is not None:
                        await self._run(call)
                        # In a scope cancelled by the call just run, this raises Cancelled.
                        call = await spawner.next_call(self)
                    return
                # The scope caught a cancellation: take a fresh one for the next call.
                call = await spawner.next_call(self)
        finally:
            spawner.runner_ended()

    async def _run(self, call: _Call) -> None:
        fn, args, kwargs, future = call
        if not future._claim(self._spawner.cancel_soon, self):
            return  # cancelled while queued
        self._future = future
        try:
            value = await fn(*args, **kwargs)
        except self._trio.Cancelled:
            future._set_cancelled()
            raise
        except BaseException as exc:
            future._settle("finished", None, exc)
        else:
            future._settle("finished", value, None)
        finally:
            self._future = None

    def hand_over(self, call: _Call, context: contextvars.Context) -> None:
        """Wake this idle runner to run ``call`` in ``context``."""
        assert self._task is not None
        self._task.context = context
        self._trio.lowlevel.reschedule(self._task, self._spawner._outcome.Value(call))

    def drop_context(self, idle_context: contextvars.Context) -> None:
        # From the next step on: the caller's context variables are not kept alive by an idle runner.
        assert self._task is not None
        self._task.context = idle_context

    def cancel_call(self, future: Unfuture[Any]) -> None:
        # On the loop: the call may have ended, and the runner moved on, since
        # cancel() was asked for.
        if self._future is future:
            assert self._scope is not None
            self._scope.cancel()

    def stop_waiting(self, _: object) -> trio.lowlevel.Abort:
        # An idle runner is being cancelled (the loop is stopping).
        self._spawner._idle.remove(self)
        succeeded: trio.lowlevel.Abort = self._trio.lowlevel.Abort.SUCCEEDED
        return succeeded


def make_spawner(backend: str) -> TaskSpawner:
    """The spawner for ``backend`` ("asyncio" or "trio")."""
    if backend == "trio":
        return TrioSpawner()
    return AsyncioSpawner()
