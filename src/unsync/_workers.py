"""Blocking work in threads.

`ThreadWorkers` is a `concurrent.futures.Executor` whose fast path settles an
`Unfuture` straight from the worker thread: a round trip is one hand-off to a
worker and one wake-up of the caller, as with a bare ThreadPoolExecutor.  Its
``submit()`` keeps the Executor contract to the letter, on a
`concurrent.futures.Future` of its own.  The caller's contextvars are visible
in the worker.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar, cast

from . import _exit
from ._fork import forget_in_child
from ._future import Producer, Unfuture, follow, set_cancelled, set_outcome, start

T = TypeVar("T")

# The same defaults as anyio.to_thread: blocking IO wants many threads, not one
# per core, and a thread idle this long (seconds) is not worth its memory.
DEFAULT_MAX_THREADS = 40
DEFAULT_IDLE_TIMEOUT = 10.0


def name_of_call(fn: Callable[..., Any]) -> str:
    """How a call is named in log messages."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{name}()"


class Call:
    """A call waiting for, or running in, a worker thread, in its caller's context."""

    __slots__ = ("args", "context", "fn", "future", "kwargs")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], future: Any) -> None:
        self.context = contextvars.copy_context()
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.future = future


class UnfutureCall(Call):
    """A call that settles an Unfuture: what ``@unsync`` functions run."""

    __slots__ = ()
    future: Unfuture[Any]

    def begin(self) -> bool:
        """Mark the call running; False if it was cancelled while it waited (then it must not run)."""
        return start(self.future)

    def settle(self, value: Any, error: BaseException | None) -> None:
        set_outcome(self.future, value, error)

    def cancel(self) -> None:
        set_cancelled(self.future)


class ExecutorCall(Call):
    """A call made through ``submit()``: it settles a `concurrent.futures.Future`, as ThreadPoolExecutor's do."""

    __slots__ = ()
    future: concurrent.futures.Future[Any]

    def begin(self) -> bool:
        return self.future.set_running_or_notify_cancel()

    def settle(self, value: Any, error: BaseException | None) -> None:
        if error is None:
            self.future.set_result(value)
        else:
            self.future.set_exception(error)

    def cancel(self) -> None:
        self.future.cancel()


WorkItem = UnfutureCall | ExecutorCall

# In a worker thread, `.pool` is the ThreadWorkers it serves (for the deadlock check of _limits).
serving = threading.local()


def _before_the_first_call() -> None:
    """Nothing: what a new worker thread would run if _limits, which the package imports, had not set its hook."""


# Called in each new worker thread before its first call (_limits installs its wait hook then).
on_new_thread: Callable[[], None] = _before_the_first_call


class Worker:
    """One worker thread: parked on ``wake`` until handed a work item (None: stop)."""

    __slots__ = ("current", "item", "thread", "wake")

    def __init__(self, thread: threading.Thread) -> None:
        self.thread = thread
        self.item: WorkItem | None = None
        self.current: WorkItem | None = None  # the call it runs now, named if exit must abandon it
        self.wake = threading.Lock()
        self.wake.acquire()

    def hand_over(self, item: WorkItem | None) -> None:
        self.item = item
        self.wake.release()


# What next_item returns to a worker that should end (shutdown, or the limit was
# lowered): a marker, compared by identity, that no real work item can be.
RETIRE = cast(WorkItem, object())


class ThreadWorkers(concurrent.futures.Executor):
    """The default pool for sync functions: up to ``max_workers`` threads.

    Threads start on demand and are reused, the most recently idle first: a
    call goes straight to a parked worker, and after a burst, sequential
    calls keep running on one warm thread rather than rotating through all.
    A thread left idle for ``idle_timeout`` seconds ends (None: never), so
    the threads of a past burst do not stay for the life of the program.
    At interpreter exit, calls that have started are waited for (up to
    ``unsync.exit_grace_period``) and calls that have not are cancelled.

        >>> pool = ThreadWorkers(max_workers=2)
        >>> pool.submit(sum, [1, 2, 3]).result()
        6
    """

    def __init__(
        self,
        max_workers: int | None = None,
        thread_name_prefix: str = "unsync-worker",
        *,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, not {max_workers}")
        if idle_timeout is not None and not 0 < idle_timeout <= threading.TIMEOUT_MAX:
            raise ValueError(
                "idle_timeout must be a number of seconds above 0 and at most threading.TIMEOUT_MAX "
                f"(None: threads never retire), not {idle_timeout}"
            )
        self._max_workers = max_workers or DEFAULT_MAX_THREADS
        self._idle_timeout = -1 if idle_timeout is None else idle_timeout
        self._name_prefix = thread_name_prefix
        self._thread_numbers = itertools.count()
        self._lock = threading.Lock()
        self._idle: list[Worker] = []  # a stack: the last to park is woken first
        self._pending: deque[WorkItem] = deque()  # calls waiting for a worker
        self._workers: list[Worker] = []
        self._shut_down = False
        forget_in_child(self._forget_after_fork)
        _exit.pools.add(self)

    @property
    def max_workers(self) -> int:
        """How many threads may run calls at once; raising it starts waiting calls at once."""
        return self._max_workers

    @max_workers.setter
    def max_workers(self, max_workers: int) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, not {max_workers}")
        with self._lock:
            self._max_workers = max_workers
            room = min(len(self._pending), max_workers - len(self._workers))
            new_workers = [self._new_worker() for _ in range(room)]
            # Lowered: parked workers beyond the limit end now, the longest idle
            # first (busy ones end as they finish, see _next_item).
            surplus = min(len(self._idle), len(self._workers) - max_workers)
            retiring, self._idle = self._idle[: max(surplus, 0)], self._idle[max(surplus, 0) :]
            for worker in retiring:
                self._workers.remove(worker)
        for worker in new_workers:
            worker.thread.start()
        for worker in retiring:
            worker.hand_over(None)

    def _new_worker(self) -> Worker:
        """A worker for a new thread, counted at once (call with the lock held; start its thread after)."""
        thread = threading.Thread(
            target=self._serve, name=f"{self._name_prefix}-{next(self._thread_numbers)}", daemon=True
        )
        worker = Worker(thread)
        self._workers.append(worker)
        return worker

    def run(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], future: Unfuture[T]) -> None:
        """Run ``fn(*args, **kwargs)`` in a worker, in the caller's context; settle ``future``."""
        self._put(UnfutureCall(fn, args, kwargs, future))

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        """Run ``fn(*args, **kwargs)`` in a worker; return a `concurrent.futures.Future`."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._put(ExecutorCall(fn, args, kwargs, future))
        return future

    def _put(self, item: WorkItem) -> None:
        with self._lock:
            if self._shut_down:
                raise RuntimeError(
                    "cannot run new calls after interpreter shutdown"
                    if _exit.state.exiting
                    else "this thread pool has been shut down; it accepts no more work"
                )
            if self._idle:
                worker, new = self._idle.pop(), False
            else:
                self._pending.append(item)
                if len(self._workers) >= self._max_workers:
                    return
                worker, new = self._new_worker(), True
        if new:
            worker.thread.start()  # it takes the call from the pending ones
        else:
            worker.hand_over(item)

    def __repr__(self) -> str:
        with self._lock:
            # Workers woken by shutdown() end without leaving the list: count the live ones.
            threads = sum(worker.thread.is_alive() for worker in self._workers)
            idle, queued, shut_down = len(self._idle), len(self._pending), self._shut_down
        state = f"max_workers={self.max_workers} threads={threads} idle={idle} queued={queued}"
        return f"<ThreadWorkers {state}{' shut down' if shut_down else ''}>"

    def _next_item(self, worker: Worker) -> WorkItem | None:
        """A waiting call for this worker; None once it is parked as idle; RETIRE if it should end."""
        with self._lock:
            if self._pending:
                return self._pending.popleft()
            if self._shut_down or len(self._workers) > self._max_workers:
                # Shut down, or the limit was lowered: surplus workers end as they finish.
                self._workers.remove(worker)
                return RETIRE
            self._idle.append(worker)
            return None

    def _retire_if_still_idle(self, worker: Worker) -> bool:
        """End a worker whose wait timed out, unless a call is being handed to it right now."""
        with self._lock:
            if worker not in self._idle:
                return False
            self._idle.remove(worker)
            self._workers.remove(worker)
            return True

    def _worker_of_this_thread(self) -> Worker:
        with self._lock:
            return next(w for w in self._workers if w.thread is threading.current_thread())

    def _serve(self) -> None:
        worker = self._worker_of_this_thread()
        serving.pool = self
        on_new_thread()
        item = self._next_item(worker)
        while item is not RETIRE:
            if item is None:  # parked: wait to be handed a call
                if not worker.wake.acquire(timeout=self._idle_timeout):
                    if self._retire_if_still_idle(worker):
                        return
                    worker.wake.acquire()
                item, worker.item = worker.item, None
                if item is None:  # shut down while parked
                    return
            if item.begin():
                worker.current = item
                value: Any = None
                error: BaseException | None = None
                try:
                    value = item.context.run(item.fn, *item.args, **item.kwargs)
                except BaseException as exc:
                    error = exc
                worker.current = None
                # Take the next call or park before settling: the woken caller
                # may submit again at once, and should find this worker idle.
                done, item = item, self._next_item(worker)
                done.settle(value, error)
                # A parked worker keeps nothing of the call it ran: not its
                # function, arguments, result or exception.
                del done, value, error
            else:
                item = self._next_item(worker)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting work; workers exit once the calls already made have run.

        With ``cancel_futures=True`` the calls still waiting for a worker are
        cancelled instead; with ``wait=True`` this returns once every call
        that runs has ended.
        """
        self._stop_accepting(cancel_waiting=cancel_futures)
        if wait:
            self.wait_for_running_calls(None)

    def _stop_accepting(self, *, cancel_waiting: bool) -> list[WorkItem]:
        """Refuse new calls, let parked workers end, and cancel the waiting calls if asked; those."""
        with self._lock:
            self._shut_down = True
            parked, self._idle = self._idle, []
            cancelled = list(self._pending) if cancel_waiting else []
            if cancel_waiting:
                self._pending.clear()
        for item in cancelled:
            item.cancel()
        for worker in parked:
            worker.hand_over(None)
        return cancelled

    # -- interpreter exit (see _exit) ------------------------------------------------

    def stop_at_exit(self) -> list[str]:
        """Refuse new calls and cancel those that never started; name them."""
        return [name_of_call(item.fn) for item in self._stop_accepting(cancel_waiting=True)]

    def running_calls(self) -> list[str]:
        """The calls that run now, by name."""
        with self._lock:
            running = [worker.current for worker in self._workers]
        return [name_of_call(item.fn) for item in running if item is not None]

    def wait_for_running_calls(self, deadline: float | None) -> None:
        """Wait until no call runs, or until ``deadline`` (time.monotonic())."""
        with self._lock:
            threads = [worker.thread for worker in self._workers]
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    # -- the deadlock check of _limits: this pool's threads as slots ----------------

    def has_room(self) -> bool:
        """Whether a call made now would find a thread (idle, or a new one)."""
        with self._lock:
            return bool(self._idle) or len(self._workers) < self._max_workers

    def queues(self, future: Unfuture[Any]) -> bool:
        """Whether ``future``'s call waits for a thread of this pool."""
        with self._lock:
            return any(isinstance(item, UnfutureCall) and item.future is future for item in self._pending)

    def calls_by_thread(self) -> dict[int | None, Unfuture[Any]]:
        """The Unfuture of the call each busy thread runs, by thread ident."""
        with self._lock:
            running = [(worker.thread.ident, worker.current) for worker in self._workers]
        return {ident: item.future for ident, item in running if isinstance(item, UnfutureCall)}

    def _forget_after_fork(self) -> list[Unfuture[Any] | concurrent.futures.Future[Any]]:
        # The child has none of the parent's threads but the forking one (a
        # worker of ours, if a call forked), so none of the calls the others
        # ran or would have run; the lock may have been held.
        forking = [worker for worker in self._workers if worker.thread is threading.current_thread()]
        lost = [item.future for item in self._pending]
        lost += [worker.current.future for worker in self._workers if worker.current and worker not in forking]
        self._lock = threading.Lock()
        self._idle = []
        self._pending = deque()
        self._workers = forking
        return lost


def run_in_thread(
    executor: concurrent.futures.Executor,
    fn: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    into: Unfuture[T] | None = None,
) -> Unfuture[T]:
    """Run ``fn`` through ``executor``, in the caller's context, settling ``into`` (or a new Unfuture)."""
    future: Unfuture[T] = Unfuture() if into is None else into
    if isinstance(executor, ThreadWorkers):
        executor.run(fn, args, kwargs, future)
    else:
        context = contextvars.copy_context()
        submit_into(future, lambda: executor.submit(context.run, fn, *args, **kwargs))
    return future


def submit_into(future: Unfuture[T], submit: Callable[[], concurrent.futures.Future[T]]) -> None:
    """Hand a call to a foreign executor with ``submit()``, for ``future``, unless it was cancelled first.

    ``future`` is started before the executor sees the call, and cancelling
    it cancels the executor's future with that executor's own truthful
    answer.  A cancel() that arrives while ``submit()`` is still under way
    waits for it, so it is never answered without knowing.
    """
    handle = Submitted()
    with handle.lock:
        if not start(future, SUBMITTED, handle):
            return  # cancelled before its turn: the executor never sees it
        try:
            handle.future = submit()
        except BaseException as exc:
            set_outcome(future, None, exc)
            return
    follow(handle.future, future)


class Submitted:
    """A call handed to a foreign executor: its future, once ``submit()`` has returned it."""

    __slots__ = ("future", "lock")

    def __init__(self) -> None:
        self.future: concurrent.futures.Future[Any] | None = None
        self.lock = threading.Lock()


class SubmittedProducer(Producer):
    __slots__ = ()

    def cancel(self, future: Unfuture[Any], work: Any) -> bool:
        handle: Submitted = work
        with handle.lock:  # held while submit() runs
            submitted = handle.future
        return submitted is not None and submitted.cancel()


SUBMITTED = SubmittedProducer()
