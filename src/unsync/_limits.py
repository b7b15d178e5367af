"""Per-function concurrency limits: ``@unsync(limit=4)`` or a shared `Limiter`.

A limited call still returns its `Unfuture` at once; it waits (in FIFO order,
without blocking anybody) for a free slot, then runs as it would without the
limit.  Cancelling a call that is still waiting takes it out of the line at
once.  The Unfuture the caller holds is the one the runner starts and
settles, so ``cancel()`` behaves exactly as it does without a limit.

Nested waiting under a tight limit can deadlock: a call that holds a slot
and waits (by ``.result()`` or ``await``) for a call that needs a slot of
the same limiter, while every slot is held by calls that wait in the same
way, would wait for ever.  Before such a wait, the wait-for graph of the
holders is followed (through chains of calls of other limiters and of the
default thread pool), and the wait that could never end
raises `DeadlockError` instead.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Literal

import sniffio

from . import _workers
from ._anyio_portal import ambient_loop
from ._fork import forget_in_child
from ._future import DeadlockError, Unfuture, set_outcome, set_wait_hook, set_wait_hook_for_this_thread
from ._workers import ThreadWorkers, serving

__all__ = ["Limiter"]

Runner = Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any], "Unfuture[Any] | None"], "Unfuture[Any]"]

# Who holds a slot: the thread that runs a call in a worker, or the task
# that runs a coroutine call (a thread ident, or a task object).
Holder = object


# Where a limited call runs, which decides who holds its slot while it runs:
# the worker thread, the task, or (in a worker process) nobody that can wait here.
RunsIn = Literal["thread", "task", "process"]


class Waiting:
    """A call in a limiter's line: how to start it once it has a slot."""

    __slots__ = ("args", "fn", "kwargs", "runner", "runs_in")

    def __init__(
        self, runner: Runner, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], runs_in: RunsIn
    ) -> None:
        self.runner = runner
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.runs_in = runs_in


# Every live Limiter, for the fork handler and the deadlock check.
_limiters: weakref.WeakSet[Limiter] = weakref.WeakSet()
# Every thread pool one of whose threads has waited for a call: its threads are slots too.
_pools: weakref.WeakSet[ThreadWorkers] = weakref.WeakSet()


class Limiter:
    """At most ``total`` calls at a time, shared by every function that uses it.

    Pass the same Limiter as ``limit=`` to each function that shares the slots:

        >>> from unsync import Limiter, unsync
        >>> database = Limiter(2)
        >>> @unsync(limit=database)
        ... def query(sql: str) -> str:
        ...     return sql.upper()
        >>> query("select 1").result()
        'SELECT 1'

    ``total`` can be changed at any time; raising it starts waiting calls at once.
    """

    def __init__(self, total: int) -> None:
        self._total = checked_total(total)
        self._lock = threading.Lock()
        self._holding: set[Unfuture[Any]] = set()  # the calls that hold a slot
        self._line: OrderedDict[Unfuture[Any], Waiting] = OrderedDict()
        _limiters.add(self)

    @property
    def total(self) -> int:
        """How many calls may hold a slot at once."""
        return self._total

    @total.setter
    def total(self, total: int) -> None:
        self._total = checked_total(total)
        self._start_waiting()

    @property
    def running(self) -> int:
        """How many calls hold a slot now."""
        return len(self._holding)

    @property
    def waiting(self) -> int:
        """How many calls wait for a slot."""
        return len(self._line)

    def __repr__(self) -> str:
        return f"<Limiter {len(self._holding)}/{self._total} running, {len(self._line)} waiting>"

    def run(
        self,
        runner: Runner,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        into: Unfuture[Any] | None = None,
        *,
        runs_in: RunsIn,
    ) -> Unfuture[Any]:
        """Run ``runner(fn, args, kwargs, future)`` once a slot is free; return ``future`` now.

        ``future`` is ``into`` if given (a continuation's), else a new Unfuture.
        """
        future: Unfuture[Any] = Unfuture() if into is None else into
        watch_waits()
        call = Waiting(runner, fn, args, kwargs, runs_in)
        with self._lock:
            admitted = not self._line and len(self._holding) < self._total
            if admitted:
                self._holding.add(future)
            else:
                self._line[future] = call
        # Leaving the line when cancelled there, and the slot when done.
        future.add_done_callback(self._on_done)
        if admitted:
            self._start(future, call)
        return future

    def _on_done(self, future: Unfuture[Any]) -> None:
        with self._lock:
            if self._line.pop(future, None) is not None:
                return  # cancelled while waiting: it held no slot
            if future not in self._holding:
                return  # its slot was in the parent process (see forget_after_fork)
            self._holding.remove(future)
        self._start_waiting()

    # Set in a thread while it starts calls: a call that settles synchronously
    # inside its runner frees its slot without starting the next call from
    # inside this one (hundreds of such calls would otherwise nest).
    _starting = threading.local()

    def _start_waiting(self) -> None:
        """Give free slots to the calls first in line, one after another (never recursively)."""
        starting: set[Limiter] = self._starting.__dict__.setdefault("limiters", set())
        if self in starting:
            return  # the loop below, further up this thread's stack, will see the free slot
        starting.add(self)
        try:
            while True:
                with self._lock:
                    if not self._line or len(self._holding) >= self._total:
                        return
                    future, call = self._line.popitem(last=False)
                    self._holding.add(future)
                self._start(future, call)
        finally:
            starting.discard(self)

    def _start(self, future: Unfuture[Any], call: Waiting) -> None:
        fn, args = call.fn, call.args
        if call.runs_in == "thread":
            fn, args = run_holding, (self, future, fn, *args)
        elif call.runs_in == "task":
            fn, args = run_coroutine_holding, (self, future, fn, *args)
        try:
            call.runner(fn, args, call.kwargs, future)
        except BaseException as exc:
            # The runner refused the call (a pool that was shut down): the caller sees why.
            set_outcome(future, None, exc)

    # -- for the deadlock check -------------------------------------------------------

    def has_room(self) -> bool:
        return len(self._holding) < self._total

    def queues(self, future: Unfuture[Any]) -> bool:
        return future in self._line

    def _forget_after_fork(self, forking_holder: Holder) -> list[Unfuture[Any]]:
        """In a forked child: keep the slots the forking thread holds; return the calls in line."""
        self._lock = threading.Lock()
        self._holding = {future for future in self._holding if _graph.holder_of.get(future) == forking_holder}
        waiting, self._line = list(self._line), OrderedDict()
        return waiting


def checked_total(total: object) -> int:
    if not isinstance(total, int) or isinstance(total, bool) or total < 1:
        raise ValueError(f"a Limiter needs a whole number of slots of at least 1, not {total!r}")
    return total


# -- the wait-for graph ------------------------------------------------------------


class WaitForGraph:
    """Which holder holds which slots for which call, and which call each holder waits for.

    Kept under one lock, only while limited calls run: a program without
    limits, or a wait by anything that holds no slot, costs two lookups.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # holder -> the (limiter, call) pairs it holds, innermost last
        self.held_by: dict[Holder, list[tuple[Limiter, Unfuture[Any]]]] = {}
        self.holder_of: dict[Unfuture[Any], Holder] = {}
        self.waits_for: dict[Holder, Unfuture[Any]] = {}

    def enter(self, holder: Holder, limiter: Limiter, future: Unfuture[Any]) -> None:
        with self.lock:
            self.held_by.setdefault(holder, []).append((limiter, future))
            self.holder_of[future] = holder

    def leave(self, holder: Holder) -> None:
        """``holder`` gives back the slot it took last."""
        with self.lock:
            held = self.held_by[holder]
            _, future = held.pop()
            if not held:
                del self.held_by[holder]
            self.holder_of.pop(future, None)

    def keep_only(self, holder: Holder) -> None:
        """In a forked child: forget every holder but ``holder``, the thread that forked."""
        self.lock = threading.Lock()
        held = self.held_by.get(holder)
        self.held_by = {} if held is None else {holder: held}
        self.holder_of = {future: holder for _, future in held or ()}
        self.waits_for = {}

    def holders_of(self, limiter: Limiter) -> list[Holder]:
        return [holder for holder, held in self.held_by.items() if any(mine is limiter for mine, _ in held)]

    def can_finish(self, future: Unfuture[Any], seen: set[Holder]) -> bool:
        """Whether ``future`` can still settle, given who waits for what now (under the lock)."""
        if future.done():
            return True
        pools = list(_pools)
        if not future.running():
            # Waiting for a slot: it gets one if one is free, or once a holder can go on.
            for limiter in list(_limiters):
                if limiter.queues(future):
                    return limiter.has_room() or any(self.can_go_on(h, seen) for h in self.holders_of(limiter))
            for pool in pools:
                if pool.queues(future):
                    return pool.has_room() or any(self.can_go_on(h, seen) for h in pool.calls_by_thread())
        # Running (or about to): it finishes if the thread or task running it can go on.
        holder = self.holder_of.get(future)
        if holder is None:
            running = (ident for pool in pools for ident, call in pool.calls_by_thread().items() if call is future)
            holder = next(running, None)
        if holder is None:
            holder = ambient_loop.task_of(future)
        # A call run by none of these (a foreign executor's, say) is taken to finish.
        return holder is None or self.can_go_on(holder, seen)

    def can_go_on(self, holder: Holder, seen: set[Holder]) -> bool:
        if holder in seen:
            return False  # a cycle: it waits, through others, for itself
        seen.add(holder)
        awaited = self.waits_for.get(holder)
        return awaited is None or self.can_finish(awaited, seen)


_graph = WaitForGraph()


def current_holder() -> Holder:
    """The task running now, if any (a coroutine call holds its slot in its task); else this thread."""
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return threading.get_ident()
    if library == "trio":
        import trio

        return trio.lowlevel.current_task()
    import asyncio

    return asyncio.current_task() or threading.get_ident()


def run_holding(limiter: Limiter, future: Unfuture[Any], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a limited call in a worker thread, known as the holder of its slot."""
    holder = threading.get_ident()
    _graph.enter(holder, limiter, future)
    # Not kept in this frame, which a traceback of the call's exception
    # would keep: that exception lives in the very Unfuture (a cycle).
    del future
    try:
        return fn(*args, **kwargs)
    finally:
        _graph.leave(holder)


async def run_coroutine_holding(
    limiter: Limiter, future: Unfuture[Any], fn: Callable[..., Any], *args: Any, **kwargs: Any
) -> Any:
    """Run a limited coroutine call in its task, known as the holder of its slot."""
    holder = current_holder()
    _graph.enter(holder, limiter, future)
    del future  # as in run_holding
    try:
        return await fn(*args, **kwargs)
    finally:
        _graph.leave(holder)


def refuse_deadlocked_wait(future: Unfuture[Any]) -> Callable[[], None] | None:
    """The wait hook: raise `DeadlockError` for a wait by a slot holder that could never end."""
    pool: ThreadWorkers | None = getattr(serving, "pool", None)
    if pool is None and not _graph.held_by:
        return None  # neither a pool thread nor, as no limited call runs, a holder
    holder = current_holder()
    with _graph.lock:
        if pool is not None:
            _pools.add(pool)
        # Every waiter is recorded while slots are held, holder or not: a
        # chain may pass through calls that hold no slot (an unlimited coroutine).
        _graph.waits_for[holder] = future
        if not _graph.can_finish(future, set()):
            del _graph.waits_for[holder]
            raise DeadlockError(
                f"waiting for {future!r} would never end: it needs a slot that is held by this call, "
                "or by calls that wait, directly or through others, for this one. Make the inner call "
                "outside the limited one, give the inner calls a Limiter of their own, or raise the limit"
            )

    def stop_waiting() -> None:
        with _graph.lock:
            if _graph.waits_for.get(holder) is future:
                del _graph.waits_for[holder]

    return stop_waiting


class Watch:
    """Whether the process-wide wait hook is installed: from the first limited call on, so that
    programs without limits pay nothing for it (pool threads watch their own waits)."""

    installed = False


def watch_waits() -> None:
    if not Watch.installed:
        Watch.installed = True
        set_wait_hook(refuse_deadlocked_wait)


def watch_this_pool_threads_waits() -> None:
    # A pool thread that blocks on a call queued behind every busy thread
    # would wait for ever, limit or no limit: its waits are watched.
    set_wait_hook_for_this_thread(refuse_deadlocked_wait)


_workers.on_new_thread = watch_this_pool_threads_waits


def _forget_after_fork() -> list[Unfuture[Any]]:
    # Only the forking thread lives on in the child: it keeps the slots it
    # holds, and every call waiting in a line is lost (its caller is in the parent).
    holder = threading.get_ident()
    _graph.keep_only(holder)
    return [future for limiter in list(_limiters) for future in limiter._forget_after_fork(holder)]


forget_in_child(_forget_after_fork)
