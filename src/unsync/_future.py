"""`Unfuture`: one future that blocks like `concurrent.futures.Future` and awaits
from any event loop like an `asyncio.Future`.

The module knows nothing about how work is run: producers (the ambient loop,
the worker pools) settle an Unfuture and tell it how to cancel their work with
`Unfuture._claim`.  Continuations (`then`) are handed to a runner that the
package installs once at import, so this module never imports the decorator.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine, Generator
from typing import Any, Generic, TypeVar, overload

import sniffio

from ._waiting import wait_until_done

__all__ = ["DeadlockError", "Unfuture"]

T = TypeVar("T")
U = TypeVar("U")
V = TypeVar("V")  # for constructors: solved from their argument, not from the class

logger = logging.getLogger("unsync")

_PENDING = "pending"
_RUNNING = "running"
_CANCELLED = "cancelled"
_FINISHED = "finished"


class DeadlockError(asyncio.InvalidStateError):
    """`Unfuture.result()` was called where waiting could never end.

    Raised instead of hanging when the thread that must produce the result is
    the one that would block waiting for it (the ambient loop's thread).  Use
    ``await`` inside coroutines, or `Unfuture.add_done_callback`.

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
_thread_role = threading.local()


def forbid_blocking_waits_in_this_thread() -> None:
    """Mark the calling thread as one that must never block on a pending Unfuture."""
    _thread_role.runs_event_loop = True


def allow_blocking_waits_in_this_thread() -> None:
    """Undo `forbid_blocking_waits_in_this_thread` (the thread no longer runs the loop)."""
    _thread_role.runs_event_loop = False


ContinuationRunner = Callable[[Callable[..., Any], "Unfuture[Any]"], "Unfuture[Any]"]
_continuation_runner: ContinuationRunner | None = None


def install_continuation_runner(runner: ContinuationRunner) -> None:
    """Set how `Unfuture.then` runs a continuation (the package does this once)."""
    global _continuation_runner
    _continuation_runner = runner


def _refuse_cancel(future: Unfuture[Any]) -> bool:
    return False


def cancel_work(future: Unfuture[Any]) -> bool:
    """A canceller for work that is itself a future with a thread-safe ``cancel()``."""
    return bool(future._work.cancel())


# One lock for the state of every Unfuture: each holds it for a few
# attribute reads and writes, and a lock per Unfuture would cost time and
# memory on every call.  No code but the Unfuture's own runs under it.
_state_lock = threading.Lock()


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
    mirrors an existing `concurrent.futures.Future`.
    """

    __slots__ = (
        "__weakref__",
        "_callbacks",
        "_canceller",
        "_done_lock",
        "_exception",
        "_queued_in",
        "_result",
        "_state",
        "_unretrieved",
        "_work",
    )

    def __init__(self, source: concurrent.futures.Future[T] | None = None) -> None:
        self._state = _PENDING
        self._result: T | None = None
        self._exception: BaseException | None = None
        # Set while the exception has not been read (see _UnretrievedException).
        self._unretrieved: _UnretrievedException | None = None
        # A list once the first callback is added: most Unfutures never get one.
        self._callbacks: list[Callable[[Unfuture[T]], object]] | None = None
        # Set by the producer when the work starts (see _claim).  An asyncio
        # future as the work is awaited directly from its own loop: no hop.
        self._canceller: Callable[[Unfuture[Any]], bool] = _refuse_cancel
        self._work: Any = None
        # The Limiter this call waits in line for, if any (see _limits).
        self._queued_in: Any = None
        # Made, held, on the first blocking wait; released when done.  Awaited
        # and callback-only Unfutures never need one.
        self._done_lock: threading.Lock | None = None
        if source is not None:
            self._mirror(source)

    @staticmethod
    def from_value(value: V) -> Unfuture[V]:
        """An Unfuture that is already done with ``value``.

        >>> Unfuture.from_value("ready").result()
        'ready'
        """
        future: Unfuture[V] = Unfuture()
        future._settle(_FINISHED, value, None)
        return future

    @staticmethod
    def from_exception(exception: BaseException) -> Unfuture[Any]:
        """An Unfuture that has already failed with ``exception``."""
        future: Unfuture[Any] = Unfuture()
        future._settle(_FINISHED, None, exception)
        return future

    # -- completion -------------------------------------------------------

    def _settle(self, state: str, result: T | None, exception: BaseException | None) -> bool:
        with _state_lock:
            if self._state is _FINISHED or self._state is _CANCELLED:
                return False
            self._state = state
            self._result = result
            self._exception = exception
            if exception is not None:
                self._unretrieved = _UnretrievedException(exception)
            callbacks, self._callbacks = self._callbacks, None
            done_lock = self._done_lock
        if done_lock is not None:
            done_lock.release()
        if callbacks:
            for callback in callbacks:
                self._run_callback(callback)
        return True

    def _run_callback(self, callback: Callable[[Unfuture[T]], object]) -> None:
        try:
            callback(self)
        except Exception:
            logger.exception("exception calling callback for %r", self)

    def set_result(self, result: T) -> None:
        """Complete the Unfuture with ``result``; safe from any thread.

        Raises `asyncio.InvalidStateError` if it is already done.
        """
        if not self._settle(_FINISHED, result, None):
            raise asyncio.InvalidStateError(f"{self!r} is already done; it can be completed only once")

    def set_exception(self, exception: BaseException) -> None:
        """Fail the Unfuture with ``exception``; safe from any thread.

        Raises `asyncio.InvalidStateError` if it is already done.
        """
        if isinstance(exception, type):
            exception = exception()
        if not self._settle(_FINISHED, None, exception):
            raise asyncio.InvalidStateError(f"{self!r} is already done; it can be completed only once")

    def _set_cancelled(self) -> bool:
        return self._settle(_CANCELLED, None, None)

    def _claim(self, canceller: Callable[[Unfuture[Any]], bool] = _refuse_cancel, work: object = None) -> bool:
        """Mark the work as started; return False if it was cancelled first.

        ``work`` is the producer's handle on the running work, kept as
        ``self._work``.  From now on `cancel` calls ``canceller(self)``, which
        asks the work to stop and returns whether it will (the producer
        settles the Unfuture when the work ends).  A canceller is usually one
        function shared by all of a producer's calls, so claiming allocates
        nothing.
        """
        with _state_lock:
            if self._state is not _PENDING:
                return False
            self._state = _RUNNING
            self._canceller = canceller
            self._work = work
            return True

    def _claim_unshared(self, canceller: Callable[[Unfuture[Any]], bool], work: object) -> None:
        """`_claim`, without the lock, for an Unfuture its producer made and has not handed out yet.

        No other thread can know of it, so nothing can race.  The lock is
        most of what `_claim` costs: 430 ns against 60 ns for the three
        stores alone, timed here.
        """
        self._state = _RUNNING
        self._canceller = canceller
        self._work = work

    def _mirror(self, source: concurrent.futures.Future[T]) -> None:
        def copy_outcome(done: concurrent.futures.Future[T]) -> None:
            if done.cancelled():
                self._set_cancelled()
            elif (exc := done.exception()) is not None:
                self._settle(_FINISHED, None, exc)
            else:
                self._settle(_FINISHED, done.result(), None)

        self._claim(cancel_work, source)
        source.add_done_callback(copy_outcome)

    # -- inspection and cancellation -----------------------------------------

    def done(self) -> bool:
        """True once the Unfuture has a result, an exception or was cancelled."""
        return self._state is _FINISHED or self._state is _CANCELLED

    def cancelled(self) -> bool:
        """True if the Unfuture was cancelled."""
        return self._state is _CANCELLED

    def running(self) -> bool:
        """True while its work is running and not yet done."""
        return self._state is _RUNNING

    def cancel(self) -> bool:
        """Ask for the work to stop; return False if that cannot happen.

        Work that has not started is cancelled at once.  A running coroutine
        is cancelled on its loop: its ``finally`` blocks run, and the
        Unfuture becomes cancelled when it has stopped (as with an asyncio
        Task).  A running thread cannot be interrupted: ``cancel()`` returns
        False.
        """
        with _state_lock:
            state, canceller = self._state, self._canceller
        if state is _PENDING:
            return self._set_cancelled() or self.cancelled()
        if state is _RUNNING:
            return canceller(self)
        return state is _CANCELLED

    def add_done_callback(self, fn: Callable[[Unfuture[T]], object]) -> None:
        """Call ``fn(self)`` once done (at once if it already is).

        The callback runs in the thread that completes the Unfuture: keep it
        short and non-blocking.
        """
        with _state_lock:
            if self._state is not _FINISHED and self._state is not _CANCELLED:
                if self._callbacks is None:
                    self._callbacks = [fn]
                else:
                    self._callbacks.append(fn)
                return
        self._run_callback(fn)

    def remove_done_callback(self, fn: Callable[[Unfuture[T]], object]) -> int:
        """Remove every registration of ``fn``; return how many were removed."""
        while True:
            with _state_lock:
                callbacks = self._callbacks
                if not callbacks:
                    return 0
                snapshot = callbacks[:]
            # Compared outside the lock: a callback's __eq__ is foreign code.
            kept = [cb for cb in snapshot if cb != fn]
            with _state_lock:
                if self._callbacks is callbacks and len(callbacks) == len(snapshot):
                    self._callbacks = kept or None
                    return len(snapshot) - len(kept)
            # A callback was added meanwhile (or the Unfuture settled): look again.

    # -- blocking access -------------------------------------------------------

    def _wait(self, timeout: float | None) -> None:
        if self._state is _FINISHED or self._state is _CANCELLED:
            return
        if getattr(_thread_role, "runs_event_loop", False):
            raise DeadlockError(
                f"{self!r} is not done, and blocking for it on the ambient event loop's thread "
                "would deadlock that loop: use `await` inside coroutines, or add_done_callback()"
            )
        with _state_lock:
            if self._state is _FINISHED or self._state is _CANCELLED:
                return
            done_lock = self._done_lock
            if done_lock is None:
                done_lock = self._done_lock = threading.Lock()
                done_lock.acquire()
        limiter = self._queued_in
        holds_a_slot = limiter is not None and timeout is None and limiter._before_blocking_wait()
        try:
            if not done_lock.acquire(timeout=-1 if timeout is None else timeout):
                raise TimeoutError(f"{self!r} was not done within {timeout} seconds")
        finally:
            if holds_a_slot:
                limiter._after_blocking_wait()
        done_lock.release()

    def result(self, timeout: float | None = None) -> T:
        """Block until done and return the result, or raise the work's exception.

        Raises `TimeoutError` after ``timeout`` seconds,
        `concurrent.futures.CancelledError` if cancelled, and `DeadlockError`
        if called on the ambient loop's thread before the result is ready.
        """
        if self._state is not _FINISHED:
            self._wait(timeout)
            if self._state is _CANCELLED:
                raise concurrent.futures.CancelledError(f"{self!r} was cancelled")
        if self._exception is not None:
            self._mark_retrieved()
            raise self._exception
        return self._result  # type: ignore[return-value]  # a finished Unfuture holds a T

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Block until done and return the exception raised, or None."""
        self._wait(timeout)
        if self._state is _CANCELLED:
            raise concurrent.futures.CancelledError(f"{self!r} was cancelled")
        self._mark_retrieved()
        return self._exception

    def _mark_retrieved(self) -> None:
        unretrieved, self._unretrieved = self._unretrieved, None
        if unretrieved is not None:
            unretrieved.exception = None

    # -- awaiting ----------------------------------------------------------------

    def __await__(self) -> Generator[Any, None, T]:
        if self._state is not _FINISHED and self._state is not _CANCELLED:
            work = self._work
            if isinstance(work, asyncio.Future) and work.get_loop() is asyncio._get_running_loop():
                # The task that settles us runs on this loop.  Just spawned, it
                # is scheduled ahead of us: a bare yield lets it take its first
                # step, which often finishes it, and resumes us right after in
                # the same loop round, where awaiting it would wait one more.
                try:
                    yield
                except asyncio.CancelledError:
                    self.cancel()  # as awaiting the task would cancel it
                    raise
                if self._state is not _FINISHED and self._state is not _CANCELLED:
                    yield from work.__await__()
            else:
                yield from wait_until_done(self).__await__()
        if self._state is _CANCELLED and sniffio.current_async_library() == "asyncio":
            raise asyncio.CancelledError(f"{self!r} was cancelled")
        return self.result()

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
        ``@unsync`` function.

            >>> Unfuture.from_value(3).then(lambda f: f.result() + 1).result()
            4
        """
        if not callable(continuation):
            raise TypeError(f"then() needs a callable that takes the finished Unfuture, not {continuation!r}")
        runner = _continuation_runner
        if runner is None:  # pragma: no cover - the package installs one at import
            raise RuntimeError("unsync is not fully imported; import unsync first")
        chained: Unfuture[Any] = Unfuture()

        def start_continuation(source: Unfuture[T]) -> None:
            try:
                step = runner(continuation, source)
            except BaseException as exc:
                chained._settle(_FINISHED, None, exc)
                return
            chained._claim(cancel_work, step)
            step.add_done_callback(chained._copy_outcome_from)

        self.add_done_callback(start_continuation)
        return chained

    def _copy_outcome_from(self, source: Unfuture[T]) -> None:
        if source._state is _CANCELLED:
            self._set_cancelled()
        else:
            source._mark_retrieved()
            self._settle(_FINISHED, source._result, source._exception)

    # -- pickling, repr, unretrieved exceptions ----------------------------------------

    def __reduce__(self) -> tuple[Any, ...]:
        # A finished Unfuture travels to worker processes as its outcome.
        if self._state is _CANCELLED:
            raise TypeError(f"cannot pickle {self!r}: it was cancelled")
        if self._state is not _FINISHED:
            raise TypeError(f"cannot pickle {self!r}: only a finished Unfuture can be pickled")
        if self._exception is not None:
            self._mark_retrieved()
            return (Unfuture.from_exception, (self._exception,))
        return (Unfuture.from_value, (self._result,))

    def __repr__(self) -> str:
        if self._state is _FINISHED:
            detail = f"exception={self._exception!r}" if self._exception is not None else f"result={self._result!r}"
            return f"<Unfuture finished {detail}>"
        return f"<Unfuture {self._state}>"


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
