"""The asyncio backend (uvloop included): spawning, waking and awaiting on asyncio."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

from .._future import Producer, Unfuture, set_cancelled, set_outcome, start, start_unshared
from .._hints import note_trio_on_asyncio
from . import THREAD_NAME, CoroutineFunction, EventfdWaker, LoopCall, Submission, has_eventfd, wake_through_anyio

T = TypeVar("T")

# Python 3.12 can run a new task's first step at once, inside its constructor.
EAGER_START = sys.version_info >= (3, 12)


class Spawner(Producer):
    """Spawns plain asyncio tasks: the cheapest way to run a coroutine on asyncio.

    It is also the `Producer` of every call it runs: it cancels their tasks
    and lets a task of its own loop await a call's task directly.
    """

    __slots__ = ("_accepting", "_closed", "_loop", "_plain_tasks", "_tasks", "_thread", "_watched_fd")

    def __init__(self) -> None:
        # asyncio keeps only weak references to tasks: this keeps them alive,
        # with the Unfuture each one settles.
        self._tasks: dict[asyncio.Task[Any], Unfuture[Any]] = {}
        self._loop: asyncio.AbstractEventLoop  # set by serve(), before any spawn
        self._thread: threading.Thread
        self._plain_tasks = False  # the stdlib loop with no task factory: Task() directly
        self._watched_fd: int | None = None  # an EventfdWaker's, while the loop watches it
        self._accepting = True  # until aclose() has ended every task
        self._closed = asyncio.Event()  # not anyio's: that would load anyio's backend for nothing

    @property
    def asyncio_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    async def serve(self, *, task_status: TaskStatus[None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.current_thread()
        self._plain_tasks = type(self._loop).create_task is asyncio.BaseEventLoop.create_task
        task_status.started()
        await self._closed.wait()

    def spawn(self, submission: Submission) -> None:
        future = submission.future
        if not self._accepting:
            set_cancelled(future)
            return
        coro = self._run_task(submission.fn, submission.args, submission.kwargs, future)
        # Called from the loop's callback that drains submissions, never from a
        # task: a first step taken at once settles most calls, and wakes their
        # callers, one loop iteration earlier.  Not in debug mode, whose report
        # of a slow step should name the call's task.
        task = self._new_task(coro, submission.context, eager=not self._loop.get_debug())
        if not task.done():
            self._tasks[task] = future

    def spawn_here(
        self, fn: CoroutineFunction, args: tuple[Any, ...], kwargs: dict[str, Any], into: Unfuture[Any] | None
    ) -> Unfuture[Any]:
        future: Unfuture[Any] = Unfuture() if into is None else into
        if not self._accepting:
            set_cancelled(future)
            return future
        if into is None:
            # Made here and handed to nobody yet: started without the lock, so
            # the task need not claim it in its first step.
            task = self._new_task(self._run_task(fn, args, kwargs, future, True), None, eager=False)
            start_unshared(future, self, task)
        else:
            task = self._new_task(self._run_task(fn, args, kwargs, future), None, eager=False)
        self._tasks[task] = future
        return future

    def make_waker(self, handler: Callable[[], object]) -> Callable[[], None]:
        if has_eventfd():
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

    def _new_task(self, coro: Coroutine[Any, Any, None], context: Any, *, eager: bool) -> asyncio.Task[None]:
        # On the stdlib loop with no task factory, making the Task directly is
        # what create_task does, minus a Python frame (docs/benchmarks.md).
        # A factory set by the user is always honoured.
        loop = self._loop
        if self._plain_tasks and loop.get_task_factory() is None:
            if eager and EAGER_START:
                return asyncio.Task(coro, loop=loop, context=context, eager_start=True)  # type: ignore[call-arg,unused-ignore]
            return asyncio.Task(coro, loop=loop, context=context)
        return loop.create_task(coro, context=context)

    def calls(self) -> list[Unfuture[Any]]:
        return list(self._tasks.values())

    def task_of(self, future: Unfuture[Any]) -> object | None:
        # A copy first: the loop's thread may change the dict meanwhile.
        return next((task for task, call in list(self._tasks.items()) if call is future), None)

    # -- the producer side: cancelling and awaiting one call ---------------------

    def cancel(self, future: Unfuture[Any], work: Any) -> bool:
        task = cast(asyncio.Task[None], work)
        if threading.current_thread() is self._thread:
            return self._cancel_on_loop(future, task)
        return LoopCall(lambda: self._cancel_on_loop(future, task)).wait(self._loop.call_soon_threadsafe, self._thread)

    def _cancel_on_loop(self, future: Unfuture[Any], task: asyncio.Task[None]) -> bool:
        if future.done():  # it ended before the request arrived
            return False
        coro = cast(Coroutine[Any, Any, None], task.get_coro())
        if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
            # A task cancelled before its first step never enters its
            # coroutine, so nothing would settle the call: settle it here.
            # The call never runs, as with any asyncio task cancelled that early.
            task.cancel()
            self._tasks.pop(task, None)
            return set_cancelled(future)
        return task.cancel()

    def await_work(self, future: Unfuture[Any], work: Any) -> Generator[Any, None, None] | None:
        if not isinstance(work, asyncio.Task):
            return None
        try:
            if work.get_loop() is not asyncio.get_running_loop():
                return None
        except RuntimeError:  # awaited under another library
            return None
        return self._await_task_here(future, work)

    @staticmethod
    def _await_task_here(future: Unfuture[Any], task: asyncio.Task[None]) -> Generator[Any, None, None]:
        # The task that settles the call runs on this loop.  Just spawned, it
        # is scheduled ahead of us: a bare yield lets it take its first step,
        # which often finishes it, and resumes us right after in the same
        # loop round, where awaiting it would wait one more.
        try:
            yield
        except asyncio.CancelledError:
            future.cancel()  # as awaiting the task would cancel it
            raise
        if not future.done():
            yield from task.__await__()
        elif future.cancelled():
            raise asyncio.CancelledError(f"{future!r} was cancelled")

    # -- running one call ------------------------------------------------------

    async def _run_task(
        self,
        fn: CoroutineFunction,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        future: Unfuture[Any],
        started: bool = False,
    ) -> None:
        # Unless its spawner started it, the call is started here, in the
        # task's first step: a call cancelled while it was queued never runs.
        # One coroutine frame per call: pending calls are what memory holds.
        task: asyncio.Task[None] = asyncio.current_task()  # type: ignore[assignment]  # inside its task
        if not started and not start(future, self, task):
            self._tasks.pop(task, None)
            return
        # Recorded here too: an eager first step runs before spawn() has recorded the task.
        self._tasks[task] = future
        # The outcome lives in the Unfuture only: a task that kept the
        # exception too would have asyncio log it as never retrieved.
        try:
            value = await fn(*args, **kwargs)
        except asyncio.CancelledError:
            set_cancelled(future)
            raise
        except BaseException as exc:
            note_trio_on_asyncio(exc)
            set_outcome(future, None, exc)
        else:
            set_outcome(future, value, None)
        finally:
            self._tasks.pop(task, None)
            # This frame is in the traceback of an exception the Unfuture keeps:
            # holding the Unfuture here too would keep both alive (a cycle).
            del future

    async def aclose(self, cancel: bool, grace_period: float | None) -> None:
        # asyncio's own timeout, not anyio's, which would load anyio's backend just for this.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_period):
                # Calls spawned before the close take their first step, as trio's
                # new tasks do: cancelled, they run their cleanup instead of
                # never having run at all.
                await asyncio.sleep(0)
                while self._tasks:
                    if cancel:
                        for task in self._tasks:
                            task.cancel()
                    await asyncio.wait(set(self._tasks))
                    # A task cancelled before its first step never ran its coroutine.
                    for task in [task for task in self._tasks if task.done()]:
                        set_cancelled(self._tasks.pop(task))
        self._accepting = False
        if self._watched_fd is not None:
            self._loop.remove_reader(self._watched_fd)
        self._closed.set()

    def abandon(self) -> list[Unfuture[Any]]:
        # The loop's teardown cancelled some tasks before their first step and
        # dropped those made after it began: nothing else would settle them.
        never_started = []
        for future in self._tasks.values():
            if future.running():
                set_cancelled(future)
            else:
                never_started.append(future)
        self._tasks.clear()
        return never_started


def loop_runs_here() -> bool:
    """True if an asyncio loop runs in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


# -- a task of any asyncio loop waiting for an Unfuture ------------------------------


def set_if_pending(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():  # a cancelled awaiter has stopped waiting
        waiter.set_result(None)


async def wait_until_done(future: Unfuture[Any]) -> None:
    """Wait, on the running asyncio loop, until ``future`` is done; raise CancelledError if it was cancelled."""
    if not future.done():
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        awaiting_thread = threading.get_ident()

        def wake_waiter(_: object) -> None:
            if threading.get_ident() == awaiting_thread:
                if not loop.is_closed():  # a closed loop has no one left to wake, as below
                    set_if_pending(waiter)
                return
            try:
                loop.call_soon_threadsafe(set_if_pending, waiter)
            except RuntimeError:
                if not loop.is_closed():
                    raise
                # The awaiting loop has ended: no one is left to wake.

        future.add_done_callback(wake_waiter)
        try:
            await waiter
        except BaseException:
            future.remove_done_callback(wake_waiter)
            future.cancel()
            raise
    if future.cancelled():
        raise asyncio.CancelledError(f"{future!r} was cancelled")


# -- the loop's thread -------------------------------------------------------------------
# anyio's blocking portal would import anyio's whole asyncio backend (sockets,
# streams, TLS) to start, and waiting for it took three round trips into the
# new thread: together, most of the cost of a program's first call.  anyio
# still works in the ambient loop's tasks: it loads that backend the first
# time a task uses it.


def start_loop_thread(options: dict[str, Any], first: Callable[..., Awaitable[Any]]) -> AsyncioThread:
    """`_backends.start_loop_thread` for asyncio."""
    return AsyncioThread(options, first)


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
        future = asyncio.run_coroutine_threadsafe(as_coroutine(fn, args), self.loop)
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


async def as_coroutine(fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> T:
    # run_coroutine_threadsafe takes a coroutine; the function is called on the loop.
    return await fn(*args)
