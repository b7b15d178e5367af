"""The trio backend: spawning, waking and awaiting on trio.  Imported only when trio is used."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import math
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import outcome
import trio
from anyio.abc import TaskStatus

from .._future import Producer, Unfuture, set_cancelled, set_outcome, start
from . import (
    THREAD_NAME,
    CoroutineFunction,
    EventfdWaker,
    LoopCall,
    Submission,
    has_eventfd,
    wake_through_anyio,
)

T = TypeVar("T")

# Runners kept waiting for calls once a burst is over; the rest end.
MAX_IDLE_RUNNERS = 64


class Spawner(Producer):
    """Runs coroutines in reusable trio tasks ("runners") in one long-lived nursery.

    Each call must be cancellable on its own, which in trio takes a cancel
    scope.  A new task with a new scope per call costs more than the rest of
    a call through unsync, so a runner runs calls one after another inside
    one scope, replaced only once a call was cancelled through it.  Between
    calls an idle runner sleeps in `trio.lowlevel.wait_task_rescheduled`; the
    next call is handed to it with the caller's context as the task's
    context, which is how trio's own ``from_thread`` runs code in a task it
    did not create for it.  The spawner is the `Producer` of every call.
    """

    __slots__ = (
        "_accepting",
        "_all_idle",
        "_closing",
        "_idle",
        "_idle_context",
        "_nursery",
        "_runners",
        "_thread",
        "_token",
        "_waker",
    )

    def __init__(self) -> None:
        self._nursery: trio.Nursery | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._thread: threading.Thread | None = None
        self._idle: list[Runner] = []
        self._runners: set[Runner] = set()  # idle or busy
        self._accepting = True  # until aclose() has cancelled every call
        # What idle runners hold as their context, rather than the last caller's.
        self._idle_context = contextvars.Context()
        self._closing = trio.Event()
        self._all_idle: trio.Event | None = None
        self._waker: EventfdWaker | None = None

    async def serve(self, *, task_status: TaskStatus[None]) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._thread = threading.current_thread()
        self._idle_context = contextvars.copy_context()
        # Made before the nursery opens, which would wrap a failure (no descriptor left) in an ExceptionGroup.
        self._waker = EventfdWaker() if has_eventfd() else None
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await self._closing.wait()

    def spawn(self, submission: Submission) -> None:
        if not self._accepting:
            set_cancelled(submission.future)
            return
        context = submission.context
        if self._idle:
            self._idle.pop().hand_over(submission, contextvars.copy_context() if context is None else context)
            return
        assert self._nursery is not None
        runner = Runner(self, submission.future)
        self._runners.add(runner)
        begin = functools.partial(self._nursery.start_soon, runner.serve, submission, name="unsync runner")
        # trio runs the new task in a copy of the spawning context.
        if context is None:
            begin()
        else:
            context.run(begin)

    def spawn_here(
        self, fn: CoroutineFunction, args: tuple[Any, ...], kwargs: dict[str, Any], into: Unfuture[Any] | None
    ) -> Unfuture[Any]:
        future: Unfuture[Any] = Unfuture() if into is None else into
        self.spawn(Submission(fn, args, kwargs, None, future))
        return future

    def make_waker(self, handler: Callable[[], object]) -> Callable[[], None]:
        waker = self._waker
        if waker is not None:
            assert self._nursery is not None
            # The nursery's cancellation at aclose() ends the watch.
            self._nursery.start_soon(self._watch, waker, handler, name="unsync waker")
            return waker.wake
        return wake_through_anyio(handler)

    @staticmethod
    async def _watch(waker: EventfdWaker, handler: Callable[[], object]) -> None:
        while True:
            await trio.lowlevel.wait_readable(waker.fd)
            waker.reset()
            handler()

    @property
    def asyncio_loop(self) -> asyncio.AbstractEventLoop:
        raise RuntimeError(
            "unsync.loop is an asyncio event loop, but the ambient loop runs on 'trio'; "
            "use unsync.use_backend('asyncio') to get one"
        )

    def calls(self) -> list[Unfuture[Any]]:
        return [runner.calls_future for runner in self._runners if runner.calls_future is not None]

    def task_of(self, future: Unfuture[Any]) -> object | None:
        # A copy first: the loop's thread may change the set meanwhile.
        return next((runner.task for runner in list(self._runners) if runner.calls_future is future), None)

    # -- the producer side -----------------------------------------------------------

    def cancel(self, future: Unfuture[Any], work: Any) -> bool:
        runner: Runner = work
        if threading.current_thread() is self._thread:
            return runner.cancel_call(future)
        assert self._token is not None and self._thread is not None
        return LoopCall(lambda: runner.cancel_call(future)).wait(self._token.run_sync_soon, self._thread)

    # -- runners ---------------------------------------------------------------------

    def runner_ended(self, runner: Runner) -> None:
        self._runners.discard(runner)
        self._check_all_idle()

    def _check_all_idle(self) -> None:
        if self._all_idle is not None and len(self._runners) == len(self._idle):
            self._all_idle.set()

    async def next_call(self, runner: Runner) -> Submission | None:
        """Wait, idle, until a call is handed to ``runner``; None: the runner should end."""
        if len(self._idle) >= MAX_IDLE_RUNNERS:
            return None
        self._idle.append(runner)
        runner.drop_context(self._idle_context)
        self._check_all_idle()
        call: Submission = await trio.lowlevel.wait_task_rescheduled(runner.stop_waiting)
        return call

    async def aclose(self, cancel: bool, grace_period: float | None) -> None:
        assert self._nursery is not None
        if not cancel and len(self._runners) > len(self._idle):
            self._all_idle = trio.Event()
            with trio.move_on_after(math.inf if grace_period is None else grace_period):
                await self._all_idle.wait()
        self._nursery.cancel_scope.cancel()
        self._accepting = False
        self._closing.set()

    def abandon(self) -> list[Unfuture[Any]]:
        # Nothing is left: trio cancels every task of a run that ends, and each call settles as cancelled.
        return []


class Runner:
    """One reusable trio task of a `Spawner`, running one call at a time."""

    __slots__ = ("_future", "_scope", "_spawner", "_task")

    def __init__(self, spawner: Spawner, first: Unfuture[Any]) -> None:
        self._spawner = spawner
        self._task: trio.lowlevel.Task | None = None
        self._scope: trio.CancelScope | None = None
        self._future: Unfuture[Any] | None = first  # of the call handed to it, until that call ends

    async def serve(self, first_call: Submission) -> None:
        spawner = self._spawner
        self._task = trio.lowlevel.current_task()
        call: Submission | None = first_call
        del first_call  # an idle runner keeps nothing of its calls, the first included
        try:
            while call is not None:
                with trio.CancelScope() as self._scope:
                    while call is not None:
                        await self._run(call)
                        call = None  # an idle runner keeps nothing of its last call
                        # In a scope cancelled by the call just run, this raises Cancelled.
                        call = await spawner.next_call(self)
                    return
                # The scope caught a cancellation: take a fresh one for the next call.
                call = await spawner.next_call(self)
        finally:
            spawner.runner_ended(self)

    async def _run(self, call: Submission) -> None:
        future = call.future
        if not start(future, self._spawner, self):
            self._future = None
            return  # cancelled while queued
        self._future = future
        try:
            value = await call.fn(*call.args, **call.kwargs)
        except trio.Cancelled:
            set_cancelled(future)
            raise
        except BaseException as exc:
            set_outcome(future, None, exc)
        else:
            set_outcome(future, value, None)
        finally:
            self._future = None
            # This frame is in the traceback of an exception the Unfuture keeps:
            # holding the Unfuture here too would keep both alive (a cycle).
            del call, future

    @property
    def task(self) -> trio.lowlevel.Task | None:
        """The trio task this runner is (None until it first runs)."""
        return self._task

    @property
    def calls_future(self) -> Unfuture[Any] | None:
        """The Unfuture of the call handed to this runner and not yet ended."""
        return self._future

    def hand_over(self, call: Submission, context: contextvars.Context) -> None:
        """Wake this idle runner to run ``call`` in ``context``."""
        assert self._task is not None
        self._task.context = context
        self._future = call.future
        trio.lowlevel.reschedule(self._task, outcome.Value(call))

    def drop_context(self, idle_context: contextvars.Context) -> None:
        # From the next step on: the caller's context variables are not kept alive by an idle runner.
        assert self._task is not None
        self._task.context = idle_context

    def cancel_call(self, future: Unfuture[Any]) -> bool:
        # On the loop: the call may have ended, and the runner moved on, since
        # cancel() was asked for.
        if self._future is not future or future.done():
            return False
        assert self._scope is not None
        self._scope.cancel()
        return True

    def stop_waiting(self, _: object) -> trio.lowlevel.Abort:
        # An idle runner is being cancelled (the loop is stopping).
        self._spawner._idle.remove(self)
        return trio.lowlevel.Abort.SUCCEEDED


def loop_runs_here() -> bool:
    """True if trio runs in this thread."""
    return trio.lowlevel.in_trio_run()


# -- a task of any trio loop waiting for an Unfuture ------------------------------------


async def wait_until_done(future: Unfuture[Any]) -> None:
    """Wait, in the running trio task, until ``future`` is done (``result()`` then reports a cancellation)."""
    task = trio.lowlevel.current_task()
    token = trio.lowlevel.current_trio_token()
    awaiting_thread = threading.get_ident()
    waiting = False  # True only while the task is blocked below

    def reschedule_if_waiting() -> None:
        # On the trio thread, like abort(): the two cannot interleave.
        nonlocal waiting
        if waiting:
            waiting = False
            trio.lowlevel.reschedule(task)

    def wake_waiter(_: object) -> None:
        if threading.get_ident() == awaiting_thread:
            reschedule_if_waiting()
            return
        # If the awaiting loop has ended, no one is left to wake.
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(reschedule_if_waiting)

    def abort(_: object) -> trio.lowlevel.Abort:
        nonlocal waiting
        waiting = False
        future.remove_done_callback(wake_waiter)
        future.cancel()
        return trio.lowlevel.Abort.SUCCEEDED

    future.add_done_callback(wake_waiter)
    if future.done():  # meanwhile, or at once in add_done_callback: nothing to wait for
        return
    waiting = True
    await trio.lowlevel.wait_task_rescheduled(abort)


def start_loop_thread(options: dict[str, Any], first: Callable[..., Awaitable[Any]]) -> PortalThread:
    """`_backends.start_loop_thread` for trio: anyio's blocking portal."""
    return PortalThread(options, first)


class PortalThread:
    """anyio's blocking portal, whose `start_task_soon` returns without waiting for the loop.

    anyio's returns once the loop has spawned the task, so a loop stuck in
    blocking code would keep the thread that stops it (a shutdown, the exit)
    waiting with it, where it should give up after the grace period.
    """

    def __init__(self, options: dict[str, Any], first: Callable[..., Awaitable[Any]]) -> None:
        from anyio.from_thread import start_blocking_portal

        self._portal_cm = start_blocking_portal("trio", options, name=THREAD_NAME)
        self._portal = self._portal_cm.__enter__()
        try:
            self.serving, self.started_with = self._portal.start_task(first)
            self._thread, self._token = self._portal.call(_thread_and_token)
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            raise

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return self._portal.call(fn, *args)

    def start_task_soon(self, fn: Callable[..., Awaitable[T]], *args: Any) -> concurrent.futures.Future[T]:
        task: concurrent.futures.Future[T] = concurrent.futures.Future()

        async def run() -> None:
            try:
                value = await fn(*args)
            except trio.Cancelled:  # the run is ending under it
                task.cancel()
                raise
            except BaseException as exc:  # a system task must not raise
                _settle(task.set_exception, exc)
            else:
                _settle(task.set_result, value)

        # A system task, as trio.from_thread.run spawns: trio.RunFinishedError (a RuntimeError) once the loop has ended.
        self._token.run_sync_soon(trio.lowlevel.spawn_system_task, run)
        return task

    def close(self) -> None:
        self._portal_cm.__exit__(None, None, None)  # it exits only once: again, it does nothing
        if self._thread.is_alive():
            # A first close was interrupted: stop the portal, if it was not, and wait for the thread.
            with contextlib.suppress(RuntimeError):
                self._portal.call(self._portal.stop, True)
            self._thread.join()


def _settle(setter: Callable[[Any], object], result: object) -> None:
    with contextlib.suppress(concurrent.futures.InvalidStateError):  # the stopping thread cancelled it
        setter(result)


async def _thread_and_token() -> tuple[threading.Thread, trio.lowlevel.TrioToken]:
    return threading.current_thread(), trio.lowlevel.current_trio_token()
