"""The ambient event loop, on a background thread (anyio's blocking portal on trio, an asyncio.Runner on asyncio).

`AmbientLoop` is the only object that touches the loop or its thread.  It
starts the loop lazily (once, however many threads race), submits coroutines
to it, stops it (explicitly or at interpreter exit, running the cleanups
registered with `AmbientLoop.on_stop`) and forgets it after ``os.fork()``.

Submission does not go through `BlockingPortal.start_task_soon`, which makes
the caller wait until the task has been spawned.  Callers append to a queue
instead, and only the call that finds the queue idle wakes the loop, without
waiting (`TaskSpawner.make_waker`: an eventfd on asyncio under Linux, anyio's
``run_sync_soon`` elsewhere); the loop then spawns everything queued.  A burst
of calls therefore costs one wake-up.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import math
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    # Not at import: anyio is loaded by the first use that needs it (a cold start pays for it otherwise).
    import anyio.lowlevel
    from anyio.abc import TaskStatus

from . import _exit
from ._backends import BACKENDS, LoopThread, Submission, TaskSpawner, in_event_loop, make_spawner, start_loop_thread
from ._fork import forget_in_child
from ._future import (
    Unfuture,
    allow_blocking_waits_in_this_thread,
    forbid_blocking_waits_in_this_thread,
    logger,
    set_cancelled,
    set_outcome,
)

T = TypeVar("T")

# Why a call made as code outside unsync stopped the loop fails (see AmbientLoop.forget_stopped_loop).
STOPPED_OUTSIDE = (
    "this call did not run: code outside unsync stopped the ambient event loop (such as "
    "unsync.loop.call_soon_threadsafe(unsync.loop.stop)) as the call was made. Stop the loop with "
    "unsync.shutdown() instead, which returns once it has stopped; calls made after that start a fresh loop"
)

# How long interpreter exit waits for cancelled tasks to run their cleanup.
EXIT_GRACE_PERIOD = 5.0


def _off_event_loop(fn: Callable[..., T], *args: Any) -> T:
    """Call ``fn(*args)``, from a helper thread if this thread runs an event loop.

    The portal's blocking calls refuse to run in a thread that runs trio (and
    would stall any loop anyway), but the loop may first be needed, or be shut
    down, from inside the user's own ``trio.run`` or ``asyncio.run``.
    """
    if not in_event_loop():
        return fn(*args)
    outcome: list[T] = []
    failure: list[BaseException] = []

    def call() -> None:
        try:
            outcome.append(fn(*args))
        except BaseException as exc:
            failure.append(exc)

    helper = threading.Thread(target=call, name="unsync-loop-starter")
    helper.start()
    helper.join()
    if failure:
        raise failure[0]
    return outcome[0]


# Loops given up on (stuck at exit, or inherited through fork); see abandon().
_abandoned_loops: list[_RunningLoop] = []


# On a loop thread, `.running` is the _RunningLoop that thread runs.
class LoopThreadRole(threading.local):
    """On a loop thread, ``running`` is the _RunningLoop that thread runs (a class default
    elsewhere: a getattr default on a thread-local would raise and catch on every call)."""

    running: _RunningLoop | None = None


_loop_thread = LoopThreadRole()


class _RunningLoop:
    """One started ambient loop: its portal, thread, spawner and submission queue."""

    def __init__(self, backend: str, options: dict[str, Any]) -> None:
        self.backend = backend
        self._queue: deque[Submission] = deque()
        self._wake_scheduled = False
        self.closed = False
        self._closing: concurrent.futures.Future[None] | None = None  # once stop() has begun
        self._stop_lock = threading.Lock()
        self.spawner: TaskSpawner = make_spawner(backend)
        self.portal: LoopThread = start_loop_thread(backend, options, self._serve)
        # Its future ends when the loop ends, however that happens.
        self.serving = self.portal.serving
        adopted: tuple[threading.Thread, Callable[[], None]] = self.portal.started_with
        self.thread, self._wake = adopted
        self.thread_id = self.thread.ident
        self.stop_callbacks: list[Callable[[], Awaitable[None]]] = []
        self._token: anyio.lowlevel.EventLoopToken | None = None

    async def _serve(self, *, task_status: TaskStatus[tuple[threading.Thread, Callable[[], None]]]) -> None:
        # The loop's first task: the spawner's, which makes this the ambient loop's thread once it can spawn.
        await self.spawner.serve(task_status=_AdoptLoopThread(self, task_status))

    @property
    def token(self) -> anyio.lowlevel.EventLoopToken:
        # Asked for on first use: making it loads anyio's backend, which a call does not need.
        if self._token is None:
            if threading.get_ident() == self.thread_id:
                import anyio.lowlevel

                self._token = anyio.lowlevel.current_token()
            else:
                self._token = _off_event_loop(self.portal.call, _current_token)
        return self._token

    def submit(self, submission: Submission) -> None:
        self._queue.append(submission)
        if not self._wake_scheduled:
            # A duplicate wake-up is harmless; a lost one cannot happen because
            # spawn_queued clears the flag before it empties the queue.
            self._wake_scheduled = True
            try:
                self._wake()
            except RuntimeError:  # anyio.RunFinishedError: the loop has finished
                self.cancel_queued()
        if self.closed:
            self.cancel_queued()

    def spawn_queued(self) -> None:
        self._wake_scheduled = False
        queue, spawn = self._queue, self.spawner.spawn
        while queue:
            submission = queue.popleft()
            if not submission.future.done():  # no task for a call cancelled while queued
                spawn(submission)

    def queued(self) -> list[Submission]:
        """The submissions the loop has not taken yet."""
        return list(self._queue)

    def cancel_queued(self) -> None:
        while self._queue:
            with contextlib.suppress(IndexError):
                set_cancelled(self._queue.popleft().future)

    def stop(self, cancel: bool, grace_period: float | None) -> None:
        """Stop the loop, or abandon it if it is stuck in blocking code.

        Interrupted (Ctrl-C, or any exception while it waits), it can be
        called again: the close already under way is awaited, not repeated,
        and ``cancel=True`` cancels the tasks a ``cancel=False`` close waits for.
        """
        self.closed = True
        # Code outside unsync may have stopped the loop (see AmbientLoop.forget_stopped_loop),
        # before this check or while the closing task is on its way to the loop.
        if self.serving.done():
            self.abandon()
            return
        with self._stop_lock:
            closing = self._closing
            try:
                if closing is None:
                    closing = self._closing = self.portal.start_task_soon(self._close_on_loop, cancel, grace_period)
                    # If the loop is torn down before the closing task runs, its serving task is cancelled.
                    self.serving.add_done_callback(lambda serving: serving.cancelled() and closing.cancel())
                elif cancel and not closing.done():
                    self.portal.start_task_soon(self.spawner.aclose, True, grace_period)
            except RuntimeError:  # the portal has already ended
                self.abandon()
                return
        try:
            closing.result(None if grace_period is None or math.isinf(grace_period) else grace_period + 1)
        except (TimeoutError, concurrent.futures.CancelledError):
            # The loop is stuck in blocking code (or was torn down from outside):
            # leave its daemon thread behind rather than hang the caller.
            self.abandon()
            return
        with self._stop_lock:  # one thread at a time closes the loop's thread (again, if interrupted)
            self.portal.close()
        self.cancel_queued()  # submissions that raced with the close

    async def _close_on_loop(self, cancel: bool, grace_period: float | None) -> None:
        self.spawn_queued()  # calls made before the stop start, then are cancelled or awaited
        await self.spawner.aclose(cancel, grace_period)
        for cleanup in reversed(self.stop_callbacks):
            try:
                await cleanup()
            except Exception:
                # One failed cleanup must not keep the others, or the stop, from happening.
                logger.exception("exception in %r while the ambient loop stopped", cleanup)

    def settle_left_behind(self) -> None:
        """After a teardown from outside: calls that never started fail, saying why; the others are cancelled."""
        self.thread.join()
        never_started = self.spawner.abandon()
        while self._queue:
            with contextlib.suppress(IndexError):  # emptied meanwhile by cancel_queued
                never_started.append(self._queue.popleft().future)
        for future in never_started:
            set_outcome(future, None, RuntimeError(STOPPED_OUTSIDE))

    def abandon(self) -> None:
        """Give up on this loop without ever waiting for it.

        The portal's context manager would wait for the loop if it were
        garbage-collected unfinished, so it is kept alive until the end.
        """
        _abandoned_loops.append(self)


class _AdoptLoopThread:
    """The spawner's ``task_status``: once it can spawn, the thread becomes the ambient loop's."""

    def __init__(
        self, running: _RunningLoop, reported: TaskStatus[tuple[threading.Thread, Callable[[], None]]]
    ) -> None:
        self._running = running
        self._reported = reported

    def started(self, value: None = None) -> None:
        forbid_blocking_waits_in_this_thread()
        _loop_thread.running = running = self._running
        self._reported.started((threading.current_thread(), running.spawner.make_waker(running.spawn_queued)))


async def _current_token() -> anyio.lowlevel.EventLoopToken:
    import anyio.lowlevel

    return anyio.lowlevel.current_token()


class AmbientLoop:
    """Owns the ambient loop's whole life: start, submit, stop, fork.

    There is one per process (`ambient_loop`).  The loop starts on the first
    submission with the configured backend and runs until `shutdown`, the
    end of the interpreter, or a fork (the child starts its own when needed).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._backend = "asyncio"
        self._options: dict[str, Any] = {}
        self._running: _RunningLoop | None = None
        self._stopped_at_exit = False
        _exit.final_steps.append(self._shutdown_at_exit)
        forget_in_child(self._forget_after_fork)

    # -- configuration --------------------------------------------------------

    def use_backend(self, backend: str, **options: Any) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(map(repr, BACKENDS))}")
        if backend == "trio":
            try:
                import trio  # noqa: F401
            except ImportError:
                raise ImportError("the trio backend needs trio: install it with `pip install 'unsync[trio]'`") from None
        with self._lock:
            if (backend, options) == (self._backend, self._options):
                return
            if self._running is not None:
                raise RuntimeError(
                    f"the ambient loop is already running on {self._backend!r}: "
                    "call unsync.shutdown() before choosing another backend or options"
                )
            self._backend, self._options = backend, dict(options)

    # -- running --------------------------------------------------------------

    def _ensure_running(self) -> _RunningLoop:
        running = self._running
        if running is not None:
            return running
        with self._lock:
            if self._stopped_at_exit:
                # A loop started now would keep a non-daemon thread, or the
                # interpreter, waiting for ever.
                raise RuntimeError("cannot run new calls after interpreter shutdown")
            if self._running is None:
                running = self._running = _off_event_loop(_RunningLoop, self._backend, self._options)
                running.serving.add_done_callback(lambda _serving: self.forget_stopped_loop(running))
            return self._running

    def forget_stopped_loop(self, running: _RunningLoop) -> None:
        """Let the next call start a fresh loop if code outside unsync stopped this one.

        1.4.0's test fixtures end with ``unsync.loop.call_soon_threadsafe(unsync.loop.stop)``.
        Calls that were running on that loop are cancelled; those made as it
        stopped, which never started, fail with `STOPPED_OUTSIDE`.
        """
        if not running.serving.cancelled():  # stopped by unsync itself
            return
        running.closed = True
        with self._lock:
            if self._running is running:
                self._running = None
        # Its portal's context manager must not be collected on its own thread.
        running.abandon()
        # This runs on the loop's thread, during its teardown: what the loop
        # leaves behind is known once that thread has ended.
        threading.Thread(target=running.settle_left_behind, name="unsync-stopped-loop", daemon=True).start()

    def submit(
        self,
        fn: Callable[..., Coroutine[Any, Any, T]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        into: Unfuture[T] | None = None,
    ) -> Unfuture[T]:
        """Run ``fn(*args, **kwargs)`` as a task on the ambient loop; it settles ``into`` (or a new Unfuture)."""
        here: _RunningLoop | None = _loop_thread.running
        if here is not None:
            # On an ambient loop's thread: spawn now, in the calling task's
            # context, on that loop even while it stops (a call from one of
            # its tasks must not start a new loop, and ends with this one).
            return here.spawner.spawn_here(fn, args, kwargs, into)
        future: Unfuture[T] = Unfuture() if into is None else into
        running = self._running or self._ensure_running()
        running.submit(Submission(fn, args, kwargs, contextvars.copy_context(), future))
        return future

    @property
    def token(self) -> anyio.lowlevel.EventLoopToken:
        """The ambient loop's anyio token (started if needed), for calls into it from threads."""
        return self._ensure_running().token

    @staticmethod
    def on_stop(cleanup: Callable[[], Awaitable[None]]) -> None:
        """Await ``cleanup()`` on the ambient loop when it stops, after its tasks have ended.

        For what a task opens for the rest of the loop's life, such as
        worker processes.  Must be called from a task on the ambient loop.
        """
        running: _RunningLoop | None = _loop_thread.running
        if running is None:
            raise RuntimeError("on_stop() must be called from a task on the ambient loop")
        running.stop_callbacks.append(cleanup)

    def task_of(self, future: Unfuture[Any]) -> object | None:
        """The ambient loop's task that runs ``future``'s call now, if any (from any thread)."""
        running = self._running
        return None if running is None else running.spawner.task_of(future)

    @property
    def thread(self) -> threading.Thread:
        return self._ensure_running().thread

    @property
    def asyncio_loop(self) -> asyncio.AbstractEventLoop:
        return self._ensure_running().spawner.asyncio_loop

    # -- stopping -------------------------------------------------------------

    def shutdown(self, cancel: bool = True, grace_period: float | None = None) -> None:
        grace_period = _exit.check_grace_period(grace_period)
        if not isinstance(cancel, bool):
            raise TypeError(f"shutdown(cancel=...) takes True or False, not {cancel!r}")
        running = self._running
        if running is None:
            return
        if threading.get_ident() == running.thread_id:
            raise RuntimeError("unsync.shutdown() cannot be called from the ambient loop's own thread")
        # Forgotten only once stopped: an interrupted shutdown() leaves the
        # loop in place, for the next shutdown() (or the exit) to finish.
        _off_event_loop(running.stop, cancel, grace_period)
        with self._lock:
            if self._running is running:
                self._running = None

    def _shutdown_at_exit(self) -> None:
        self._stopped_at_exit = True
        running, self._running = self._running, None
        if running is not None:
            running.stop(cancel=True, grace_period=EXIT_GRACE_PERIOD)

    def _forget_after_fork(self) -> list[Unfuture[Any]]:
        # The loop thread does not exist in the child, and the lock may have
        # been held by another thread at the moment of the fork.  If a task
        # forked, the child's only thread was the loop's: it is an ordinary
        # thread now.  The calls queued for the loop or running on it are lost.
        _loop_thread.__dict__.clear()
        allow_blocking_waits_in_this_thread()
        self._lock = threading.Lock()
        running, self._running = self._running, None
        if running is None:
            return []
        running.abandon()
        return [submission.future for submission in running.queued()] + running.spawner.calls()


ambient_loop = AmbientLoop()
