"""Per-function concurrency limits: ``@unsync(limit=4)`` or a shared `Limiter`.

A limited call still returns its `Unfuture` at once; it waits (in FIFO order,
without blocking anybody) for a free slot, then runs as it would without the
limit.  Cancelling a call that is still waiting removes it from the line.

Nested blocking under a tight limit can deadlock: if every running call of a
limited function blocks on ``.result()`` of another call of the same limiter,
that call waits for a slot that none of them will free.  The certain case is
detected: the last slot holder to block that way gets `DeadlockError` instead
of hanging.  Avoid it by giving inner calls their own limiter, by awaiting
instead of blocking, or with a timeout.
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from ._future import DeadlockError, Unfuture, set_outcome, set_wait_hook

__all__ = ["Limiter"]

_held = threading.local()


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
    """

    def __init__(self, total: int) -> None:
        if not isinstance(total, int) or isinstance(total, bool) or total < 1:
            raise ValueError(f"a Limiter needs a whole number of slots of at least 1, not {total!r}")
        self.total = total
        self._lock = threading.Lock()
        self._running = 0
        self._line: deque[Callable[[], None]] = deque()
        self._blocked_holders = 0

    @property
    def running(self) -> int:
        """How many calls hold a slot now."""
        return self._running

    @property
    def waiting(self) -> int:
        """How many calls wait for a slot."""
        return len(self._line)

    def __repr__(self) -> str:
        return f"<Limiter {self._running}/{self.total} running, {len(self._line)} waiting>"

    def _enter(self, start: Callable[[], None]) -> None:
        with self._lock:
            if self._running >= self.total:
                self._line.append(start)
                return
            self._running += 1
        start()

    def _release(self) -> None:
        with self._lock:
            if not self._line:
                self._running -= 1
                return
            start = self._line.popleft()
        start()

    def _before_blocking_wait(self) -> bool:
        """Called by a thread about to block on a call queued here; True if it holds a slot."""
        if self not in getattr(_held, "limiters", ()):
            return False
        with self._lock:
            self._blocked_holders += 1
            if self._blocked_holders >= self.total:
                self._blocked_holders -= 1
                raise DeadlockError(
                    f"every slot of {self!r} is held by a call that blocks on another call queued "
                    "behind it: none can ever finish. Await instead of blocking, give the inner "
                    "calls a Limiter of their own, or raise the limit"
                )
        return True

    def _after_blocking_wait(self) -> None:
        with self._lock:
            self._blocked_holders -= 1


def _holding(limiter: Limiter, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, marking the thread that runs it as a holder of a slot of ``limiter``."""

    def run_holding_slot(*args: Any, **kwargs: Any) -> Any:
        held = _held.__dict__.setdefault("limiters", [])
        held.append(limiter)
        try:
            return fn(*args, **kwargs)
        finally:
            held.remove(limiter)

    return run_holding_slot


# The limiter each limited call waits in line for, until it starts.
waiting_in: weakref.WeakKeyDictionary[Unfuture[Any], Limiter] = weakref.WeakKeyDictionary()


def _watch_wait(future: Unfuture[Any]) -> Callable[[], None] | None:
    limiter = waiting_in.get(future)
    if limiter is None or not limiter._before_blocking_wait():
        return None
    return limiter._after_blocking_wait


Runner = Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any], Unfuture[Any] | None], Unfuture[Any]]


def run_limited(
    limiter: Limiter,
    runner: Runner,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    into: Unfuture[Any] | None = None,
    *,
    in_worker_thread: bool,
) -> Unfuture[Any]:
    """Run ``runner(fn, args, kwargs, future)`` once ``limiter`` has a free slot."""
    future: Unfuture[Any] = Unfuture() if into is None else into
    # Installed with the first limited call: programs without limits never pay for the watch.
    set_wait_hook(_watch_wait)
    waiting_in[future] = limiter

    def start() -> None:
        waiting_in.pop(future, None)
        if future.done():  # cancelled while waiting
            limiter._release()
            return
        try:
            # The runner starts and settles the user's Unfuture itself: one
            # cancelled before the runner starts it never runs.
            runner(_holding(limiter, fn) if in_worker_thread else fn, args, kwargs, future)
        except BaseException as exc:
            limiter._release()
            set_outcome(future, None, exc)
            return
        future.add_done_callback(lambda _: limiter._release())

    limiter._enter(start)
    return future
