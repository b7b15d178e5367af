"""`Unfuture`: one future that blocks like `concurrent.futures.Future` and awaits
from any event loop like an `asyncio.Future`.

The module knows nothing about how work is run.  Whatever produces a result
(the ambient loop's backends, the worker pools, limits, continuations) drives
an Unfuture through the producer interface below, and only through it:

* `start` moves it from pending to running, atomically refusing if it was
  cancelled first (the producer then must not run the work), and registers
  the `Producer` that `Unfuture.cancel` asks to stop the running work;
* `set_outcome` and `set_cancelled` settle it, once.

Every transition happens under one hold of the state lock.  Hooks registered
by their owners cover the rest: a `Producer` may offer a cheaper way to await
its work (`Producer.await_work`), the limits module watches waits for
deadlocks (`set_wait_hook`), and the package teaches ``Unfuture(x)`` what to
do with a coroutine or an awaitable (`set_source_adapter`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Generic, TypeVar, overload

from . import _exit
from ._backends import wait_until_done

__all__ = ["DeadlockError", "Unfuture"]

T = TypeVar("T")
U = TypeVar("U")
V = TypeVar("V")  # for constructors: solved from their argument, not from the class
Manager = TypeVar("Manager", bound=AbstractAsyncContextManager[Any])

logger = logging.getLogger("unsync")


class State(enum.Enum):
    """Where an Unfuture is in its life; compared by identity."""

    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"


PENDING, RUNNING, FINISHED, CANCELLED = State.PENDING, State.RUNNING, State.FINISHED, State.CANCELLED


class DeadlockError(asyncio.InvalidStateError):
    """`Unfuture.result()` was called where waiting could never end.

    Raised instead of hanging when the thread that must produce the result is
    the one that would block waiting for it (the ambient loop's thread), or
    when every slot of a limit is held by calls that wait for calls queued
    behind them.  Use ``await`` inside coroutines, or
    `Unfuture.add_done_callback`.

        >>> from unsync import DeadlockError, Unfuture, unsync
        >>> @unsync
        ... async def peek(other: Unfuture[int]) -> str:
        ...     try:
        ...         return str(other.result())
        ...     except DeadlockError:
        ...         return "would deadlock"
        >>> peek(Unfuture()).result()
        'would deadlock'
    """


# Threads whose blocking on a pending Unfuture would deadlock (the ambient loop).
class ThreadRole(threading.local):
    """What this thread is to unsync.  Defaults live on the class: looking up a
    name a thread never set then costs no AttributeError, on every wait."""

    runs_event_loop = False
    wait_hook: WaitHook | None = None


thread_role = ThreadRole()


def forbid_blocking_waits_in_this_thread() -> None:
    """Mark the calling thread as one that must never block on a pending Unfuture."""
    thread_role.runs_event_loop = True


def allow_blocking_waits_in_this_thread() -> None:
    """Undo `forbid_blocking_waits_in_this_thread` (the thread no longer runs the loop)."""
    thread_role.runs_event_loop = False


class Producer:
    """How one producer's running work is cancelled and, optionally, awaited.

    One instance serves all of a producer's calls, so starting a call
    allocates nothing; the per-call handle is the ``work`` given to `start`.
    The base class is for work that cannot be stopped once it runs.
    """

    __slots__ = ()

    def cancel(self, future: Unfuture[Any], work: Any) -> bool:
        """Ask running ``work`` to stop; True only once the request has reached it.

        The producer settles ``future`` when the work ends: cancelled, or as
        the work decides (a coroutine may catch its cancellation).
        """
        return False

    def await_work(self, future: Unfuture[Any], work: Any) -> Generator[Any, None, None] | None:
        """A cheaper way than the generic waiter to wait for ``work`` from the running loop, or None."""
        return None


CANNOT_CANCEL = Producer()


class FutureProducer(Producer):
    """Work that is a `concurrent.futures.Future` (or anything with a thread-safe, truthful ``cancel()``)."""

    __slots__ = ()

    def cancel(self, future: Unfuture[Any], work: Any) -> bool:
        return bool(work.cancel())


FUTURE_PRODUCER = FutureProducer()

WaitHook = Callable[["Unfuture[Any]"], "Callable[[], None] | None"]
SourceAdapter = Callable[[object, "Unfuture[Any]"], bool]
ContinuationRunner = Callable[[Callable[..., Any], "Unfuture[Any]", "Unfuture[Any]"], None]
# context_hook(future): the one object, for that Unfuture, that `with` and `async with` on it delegate to.
ContextHook = Callable[["Unfuture[Any]"], Any]


class Hooks:
    """What other modules install into this one (each set once, by its owner)."""

    wait: WaitHook | None = None
    source_adapter: SourceAdapter | None = None
    continuation_runner: ContinuationRunner | None = None
    context: ContextHook | None = None


def set_wait_hook(hook: WaitHook | None) -> None:
    """Call ``after = hook(future)`` before every wait without timeout on a pending Unfuture.

    For blocking waits and for awaits alike.  The hook may raise to refuse the
    wait (as `DeadlockError`); it returns None, or a callable to run once the
    wait has ended.
    """
    Hooks.wait = hook


def set_wait_hook_for_this_thread(hook: WaitHook) -> None:
    """`set_wait_hook` for the waits of the calling thread only (worker threads watched for deadlocks).

    Other threads' waits, the commonest (a program's own threads blocking on
    results), then pay nothing for it.
    """
    thread_role.wait_hook = hook


def set_source_adapter(adapter: SourceAdapter | None) -> None:
    """Teach ``Unfuture(source)`` a kind of source: ``adapter(source, future)`` adopts it, or returns False."""
    Hooks.source_adapter = adapter


def install_continuation_runner(runner: ContinuationRunner) -> None:
    """Set how `Unfuture.then` runs a continuation: ``runner(continuation, source, into)`` (once, by the package)."""
    Hooks.continuation_runner = runner


def set_context_hook(hook: ContextHook | None) -> None:
    """Set what ``with`` / ``async with`` on an Unfuture of an async context manager delegate to (the package does)."""
    Hooks.context = hook


# One lock for the state of every Unfuture: each holds it for a few
# attribute reads and writes, and a lock per Unfuture would cost time and
# memory on every call.  No code but this module's runs under it.
state_lock = threading.Lock()


def _new_state_lock() -> None:
    # A fork may catch another thread holding it: the child, which has only
    # the forking thread, would wait on it for ever.  Runs before any other
    # after-fork handler of the package (this module is imported first).
    global state_lock
    state_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_state_lock)


def start(future: Unfuture[Any], producer: Producer = CANNOT_CANCEL, work: object = None) -> bool:
    """Mark ``future``'s work as running; False if it was cancelled (or settled) first.

    On False the producer must not run the work.  From now on
    ``future.cancel()`` calls ``producer.cancel(future, work)``.
    """
    with state_lock:
        if future._state is not PENDING:
            return False
        future._state = RUNNING
        future._producer = producer
        future._work = work
        return True


def start_unshared(future: Unfuture[Any], producer: Producer, work: object) -> None:
    """`start` without the lock, for an Unfuture its producer has just made and handed to nobody.

    No other thread can know of it, so nothing can race, and the lock is
    most of what `start` costs.
    """
    future._state = RUNNING
    future._producer = producer
    future._work = work


def set_outcome(future: Unfuture[Any], value: Any, error: BaseException | None) -> bool:
    """Finish ``future`` with ``value``, or fail it with ``error``; False if it was already done."""
    return future._settle(FINISHED, value, error)


def set_cancelled(future: Unfuture[Any]) -> bool:
    """Cancel ``future``; False if it was already done."""
    return future._settle(CANCELLED, None, None)


def copy_outcome(source: Unfuture[Any], target: Unfuture[Any]) -> bool:
    """Settle ``target`` as ``source`` (done) was settled; False if ``target`` was already done."""
    if source._state is CANCELLED:
        return set_cancelled(target)
    source._mark_retrieved()
    return target._settle(FINISHED, source._result, source._exception)


class UnfutureProducer(Producer):
    """Work that is another Unfuture: cancelling one cancels the other."""

    __slots__ = ()

    def cancel(self, future: Unfuture[Any], work: Any) -> bool:
        return bool(work.cancel())


UNFUTURE_PRODUCER = UnfutureProducer()


def mirror(source: Unfuture[Any] | concurrent.futures.Future[Any], target: Unfuture[Any]) -> None:
    """Start ``target`` now and settle it as ``source`` settles; cancelling ``target`` cancels ``source``."""
    if isinstance(source, Unfuture):
        if start(target, UNFUTURE_PRODUCER, source):
            source.add_done_callback(lambda done: copy_outcome(done, target))
    else:
        # Only Unfuture(concurrent_future) gets here, with the Unfuture it is making: nothing
        # else can have started or settled that one yet.
        start(target, FUTURE_PRODUCER, source)
        follow(source, target)


def follow(source: concurrent.futures.Future[Any], target: Unfuture[Any]) -> None:
    """Settle ``target`` as the `concurrent.futures.Future` ``source`` settles."""

    def copy_from_concurrent(done: concurrent.futures.Future[Any]) -> None:
        if done.cancelled():
            set_cancelled(target)
        else:
            error = done.exception()
            set_outcome(target, None if error is not None else done.result(), error)

    source.add_done_callback(copy_from_concurrent)


def checked_timeout(timeout: object) -> float:
    """``timeout`` (not None) as result() and exception() use it, or a clear error."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, or None to wait as long as it takes, not {timeout!r}")
    if timeout != timeout:
        raise ValueError("timeout must be a number of seconds, or None to wait as long as it takes, not NaN")
    return timeout


class Unfuture(Generic[T]):
    """The result of an `@unsync` call, usable from sync and async code alike.

    Block for it from ordinary code, or await it from any event loop (the
    ambient one, your own ``asyncio.run`` or ``trio.run`` loop):

        >>> from unsync import Unfuture
        >>> f = Unfuture.from_value(21)
        >>> f.then(lambda done: done.result() * 2).result()
        42

    An Unfuture made with ``Unfuture()`` is completed later, from any thread,
    with `set_result` or `set_exception`.  ``Unfuture(concurrent_future)``
    mirrors an existing `concurrent.futures.Future`, and
    ``Unfuture(coroutine)`` runs the coroutine on the ambient loop.
    """

    __slots__ = (
        "__weakref__",
        "_callbacks",
        "_done_lock",
        "_exception",
        "_producer",
        "_result",
        "_state",
        "_unretrieved",
        "_work",
    )

    def __init__(
        self,
        source: concurrent.futures.Future[T] | Unfuture[T] | Coroutine[Any, Any, T] | Awaitable[T] | None = None,
    ) -> None:
        self._state = PENDING
        self._result: T | None = None
        self._exception: BaseException | None = None
        # Set while the exception has not been read (see _UnretrievedException).
        self._unretrieved: _UnretrievedException | None = None
        # A list once the first callback is added: most Unfutures never get one.
        self._callbacks: list[Callable[[Unfuture[T]], object]] | None = None
        # Set by `start`: what cancel() asks to stop the running work.
        self._producer: Producer = CANNOT_CANCEL
        self._work: object = None
        # Made, held, on the first blocking wait; released when done.  Awaited
        # and callback-only Unfutures never need one.
        self._done_lock: threading.Lock | None = None
        if source is not None:
            self._adopt(source)

    def _adopt(self, source: object) -> None:
        if isinstance(source, (Unfuture, concurrent.futures.Future)):
            mirror(source, self)
            return
        adapter = Hooks.source_adapter
        if adapter is None or not adapter(source, self):
            raise TypeError(
                f"Unfuture() cannot make a future of {type(source).__name__} {source!r}: it takes nothing "
                "(complete it later with set_result), a concurrent.futures.Future or an Unfuture to mirror, "
                "or a coroutine or other awaitable to run on the ambient event loop"
            )

    @staticmethod
    def from_value(value: V) -> Unfuture[V]:
        """An Unfuture that is already done with ``value``.

        For code that takes Unfutures, when the answer is already known:

            >>> Unfuture.from_value("ready").result()
            'ready'
        """
        future: Unfuture[V] = Unfuture()
        future._settle(FINISHED, value, None)
        return future

    @staticmethod
    def from_exception(exception: BaseException) -> Unfuture[Any]:
        """An Unfuture that has already failed with ``exception``."""
        future: Unfuture[Any] = Unfuture()
        future._settle(FINISHED, None, exception)
        return future

    # -- completion -------------------------------------------------------

    def _settle(self, state: State, result: T | None, exception: BaseException | None) -> bool:
        with state_lock:
            if self._state is FINISHED or self._state is CANCELLED:
                return False
            callbacks = self._settle_locked(state, result, exception)
        self._wake_waiters(callbacks)
        return True

    def _settle_locked(
        self, state: State, result: T | None, exception: BaseException | None
    ) -> list[Callable[[Unfuture[T]], object]] | None:
        """The transition to a final state, under the state lock; returns the callbacks to run."""
        self._state = state
        self._result = result
        self._exception = exception
        if exception is not None:
            self._unretrieved = _UnretrievedException(exception)
        # The work is over: nothing of it should outlive this moment.
        self._producer, self._work = CANNOT_CANCEL, None
        callbacks, self._callbacks = self._callbacks, None
        return callbacks

    def _wake_waiters(self, callbacks: list[Callable[[Unfuture[T]], object]] | None) -> None:
        """After settling, outside the lock: release blocked waiters, then run the callbacks."""
        if self._done_lock is not None:
            self._done_lock.release()
        if callbacks:
            for callback in callbacks:
                self._run_callback(callback)

    def _run_callback(self, callback: Callable[[Unfuture[T]], object]) -> None:
        try:
            callback(self)
        except Exception:
            logger.exception("exception calling callback for %r", self)

    def set_result(self, result: T) -> None:
        """Complete the Unfuture with ``result``; safe from any thread.

        Raises `asyncio.InvalidStateError` if it is already done.
        """
        if not self._settle(FINISHED, result, None):
            raise asyncio.InvalidStateError(f"{self!r} is already done; it can be completed only once")

    def set_exception(self, exception: BaseException) -> None:
        """Fail the Unfuture with ``exception``; safe from any thread.

        Raises `asyncio.InvalidStateError` if it is already done.
        """
        if isinstance(exception, type):
            exception = exception()
        if not self._settle(FINISHED, None, exception):
            raise asyncio.InvalidStateError(f"{self!r} is already done; it can be completed only once")

    # -- inspection and cancellation -----------------------------------------

    def done(self) -> bool:
        """True once the Unfuture has a result, an exception or was cancelled."""
        return self._state is FINISHED or self._state is CANCELLED

    def cancelled(self) -> bool:
        """True if the Unfuture was cancelled."""
        return self._state is CANCELLED

    def running(self) -> bool:
        """True while its work is running and not yet done."""
        return self._state is RUNNING

    def cancel(self) -> bool:
        """Ask for the work to stop; return True only if it will not run or has been told to stop.

        Work that has not started is cancelled at once and never runs.  A
        running coroutine (or ``cpu_bound`` call) is cancelled on its loop:
        True means the cancellation has reached it, its ``finally`` blocks
        run, and the Unfuture becomes cancelled when it has stopped (as with
        an asyncio Task, a coroutine that catches the cancellation decides
        its own outcome).  A running thread cannot be interrupted:
        ``cancel()`` returns False and the result arrives as usual.
        """
        callbacks = None
        with state_lock:
            state, producer, work = self._state, self._producer, self._work
            if state is PENDING:
                callbacks = self._settle_locked(CANCELLED, None, None)
        if state is PENDING:
            self._wake_waiters(callbacks)
            return True
        if state is RUNNING:
            return producer.cancel(self, work)
        return state is CANCELLED

    def add_done_callback(self, fn: Callable[[Unfuture[T]], object]) -> None:
        """Call ``fn(self)`` once done (at once if it already is).

        The callback runs in the thread that completes the Unfuture: keep it
        short and non-blocking.
        """
        with state_lock:
            if self._state is not FINISHED and self._state is not CANCELLED:
                if self._callbacks is None:
                    self._callbacks = [fn]
                else:
                    self._callbacks.append(fn)
                return
        self._run_callback(fn)

    def remove_done_callback(self, fn: Callable[[Unfuture[T]], object]) -> int:
        """Remove every registration of ``fn``; return how many were removed."""
        while True:
            with state_lock:
                callbacks = self._callbacks
                if not callbacks:
                    return 0
                snapshot = callbacks[:]
            # Compared outside the lock: a callback's __eq__ is foreign code.
            kept = [cb for cb in snapshot if cb != fn]
            with state_lock:
                if self._callbacks is callbacks and len(callbacks) == len(snapshot):
                    self._callbacks = kept or None
                    return len(snapshot) - len(kept)
            # A callback was added meanwhile (or the Unfuture settled): look again.

    # -- blocking access -------------------------------------------------------

    def _wait(self, timeout: float | None) -> None:
        if timeout is not None:
            timeout = checked_timeout(timeout)
        if self._state is FINISHED or self._state is CANCELLED:
            return
        if thread_role.runs_event_loop:
            raise DeadlockError(
                f"{self!r} is not done, and blocking for it on the ambient event loop's thread "
                "would deadlock that loop: use `await` inside coroutines, or add_done_callback()"
            )
        with state_lock:
            if self._state is FINISHED or self._state is CANCELLED:
                return
            done_lock = self._done_lock
            if done_lock is None:
                done_lock = self._done_lock = threading.Lock()
                done_lock.acquire()
        hook = thread_role.wait_hook or Hooks.wait
        after_wait = hook(self) if hook is not None and timeout is None else None
        try:
            if timeout is None or timeout >= threading.TIMEOUT_MAX:
                done = done_lock.acquire()
            else:
                # A timeout of 0 or less only looks, as in concurrent.futures.
                done = done_lock.acquire(timeout=timeout) if timeout > 0 else done_lock.acquire(blocking=False)
            if not done:
                raise TimeoutError(f"{self!r} was not done within {timeout} seconds")
        finally:
            if after_wait is not None:
                after_wait()
        done_lock.release()
        if self._state is CANCELLED and _exit.state.exiting and threading.current_thread().daemon:
            # Cancelled because the interpreter is ending: a daemon thread would
            # only print a CancelledError traceback before it is stopped anyway.
            # It waits for that quietly instead.
            threading.Event().wait()

    def result(self, timeout: float | None = None) -> T:
        """Block until done and return the result, or raise the work's exception.

        Raises `TimeoutError` after ``timeout`` seconds,
        `concurrent.futures.CancelledError` if cancelled, and `DeadlockError`
        if called on the ambient loop's thread before the result is ready.
        """
        if self._state is not FINISHED:
            self._wait(timeout)
            if self._state is CANCELLED:
                raise concurrent.futures.CancelledError(f"{self!r} was cancelled")
        if self._exception is not None:
            self._mark_retrieved()
            try:
                raise self._exception
            finally:
                # The exception's traceback keeps this frame: without this,
                # frame and Unfuture would keep each other alive (a cycle).
                del self
        return self._result  # type: ignore[return-value]  # a finished Unfuture holds a T

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Block until done and return the exception raised, or None."""
        self._wait(timeout)
        if self._state is CANCELLED:
            raise concurrent.futures.CancelledError(f"{self!r} was cancelled")
        self._mark_retrieved()
        return self._exception

    def _mark_retrieved(self) -> None:
        unretrieved, self._unretrieved = self._unretrieved, None
        if unretrieved is not None:
            unretrieved.exception = None

    # -- awaiting ----------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, T]:
        if self._state is not FINISHED:
            # Read without the lock: a producer's await_work copes with work that has just ended.
            producer, work = self._producer, self._work
            hook = Hooks.wait
            after_wait = hook(self) if hook is not None and self._state is not CANCELLED else None
            try:
                shortcut = producer.await_work(self, work) if self._state is RUNNING else None
                # The waiter raises the awaiting library's own cancellation if this was cancelled.
                yield from (wait_until_done(self).__await__() if shortcut is None else shortcut)
            finally:
                if after_wait is not None:
                    after_wait()
        try:
            return self.result()
        finally:
            del self  # as in result(): an exception raised here keeps this frame

    @property
    def future(self) -> concurrent.futures.Future[T]:
        """Deprecated: unsync 1.4.0's way to cancel or watch the work; use the Unfuture itself.

        A `concurrent.futures.Future` whose ``cancel()``, ``result()`` and
        callbacks behave as this Unfuture's, with a `DeprecationWarning`.
        """
        from ._compat import future_view  # the 1.4.0 compatibility layer, which imports the ambient loop

        return future_view(self)

    # -- the async context manager it holds --------------------------------------------
    # An Unfuture of an async context manager enters it (with `with` in sync
    # code, `async with` on any loop) once it is done; the package's context
    # hook does the work.  Typed precisely when T is spelled as an
    # AbstractAsyncContextManager, as Any for other managers.

    @overload
    def __enter__(self: Unfuture[AbstractAsyncContextManager[U]]) -> U: ...
    @overload
    def __enter__(self: Unfuture[Manager]) -> Any: ...
    def __enter__(self) -> Any:
        return _managed(self).__enter__()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        return _managed(self).__exit__(exc_type, exc, tb)  # type: ignore[no-any-return]

    @overload
    async def __aenter__(self: Unfuture[AbstractAsyncContextManager[U]]) -> U: ...
    @overload
    async def __aenter__(self: Unfuture[Manager]) -> Any: ...
    async def __aenter__(self) -> Any:
        return await _managed(self).__aenter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        return await _managed(self).__aexit__(exc_type, exc, tb)  # type: ignore[no-any-return]

    # -- continuations -------------------------------------------------------------

    @overload
    def then(self, continuation: Callable[[Unfuture[T]], Coroutine[Any, Any, U]]) -> Unfuture[U]: ...
    @overload
    def then(self, continuation: Callable[[Unfuture[T]], Unfuture[U]]) -> Unfuture[U]: ...
    @overload
    def then(self, continuation: Callable[[Unfuture[T]], U]) -> Unfuture[U]: ...
    def then(self, continuation: Callable[[Unfuture[T]], Any]) -> Unfuture[Any]:
        """Run ``continuation(self)`` once this Unfuture is done.

        The continuation receives this (finished) Unfuture and returns an
        Unfuture of its own result.  It may be a plain function (run in a
        worker thread), an ``async def`` (run on the ambient loop) or an
        ``@unsync`` function.  Cancelling the returned Unfuture before the
        continuation starts means it never runs.

            >>> Unfuture.from_value(3).then(lambda f: f.result() + 1).result()
            4
        """
        if not callable(continuation):
            raise TypeError(f"then() needs a callable that takes the finished Unfuture, not {continuation!r}")
        runner = Hooks.continuation_runner
        if runner is None:  # pragma: no cover - the package installs one at import
            raise RuntimeError("unsync is not fully imported; import unsync first")
        chained: Unfuture[Any] = Unfuture()

        def start_continuation(source: Unfuture[T]) -> None:
            if chained.done():  # cancelled before its turn: it never runs
                return
            try:
                runner(continuation, source, chained)
            except BaseException as exc:
                chained._settle(FINISHED, None, exc)

        self.add_done_callback(start_continuation)
        return chained

    # -- pickling, repr, unretrieved exceptions ----------------------------------------

    def __reduce__(self) -> tuple[Any, ...]:
        # A finished Unfuture travels to worker processes as its outcome.
        if self._state is CANCELLED:
            raise TypeError(f"cannot pickle {self!r}: it was cancelled")
        if self._state is not FINISHED:
            raise TypeError(f"cannot pickle {self!r}: only a finished Unfuture can be pickled")
        if self._exception is not None:
            self._mark_retrieved()
            return (Unfuture.from_exception, (self._exception,))
        return (Unfuture.from_value, (self._result,))

    def __repr__(self) -> str:
        if self._state is FINISHED:
            detail = f"exception={self._exception!r}" if self._exception is not None else f"result={self._result!r}"
            return f"<Unfuture finished {detail}>"
        return f"<Unfuture {self._state.value}>"


def _managed(future: Unfuture[Any]) -> Any:
    hook = Hooks.context
    if hook is None:  # pragma: no cover - the package installs one at import
        raise RuntimeError("unsync is not fully imported; import unsync first")
    return hook(future)


class _UnretrievedException:
    """Logs a failed Unfuture's exception if the Unfuture is collected before anyone read it.

    Only failed Unfutures carry one.  A ``__del__`` on `Unfuture` itself
    would run for every call, and cost every call a Python-level finalizer.
    """

    __slots__ = ("exception",)

    def __init__(self, exception: BaseException) -> None:
        self.exception: BaseException | None = exception

    def __del__(self) -> None:
        exception = self.exception
        if exception is not None:
            # Logged like asyncio's "Task exception was never retrieved".
            logger.error(
                "Unfuture exception was never retrieved: <Unfuture finished exception=%r>",
                exception,
                exc_info=(type(exception), exception, exception.__traceback__),
            )
