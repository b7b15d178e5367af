"""Interpreter exit: calls that have started finish, calls that have not are cancelled, nothing silently.

At exit the worker pools registered here refuse new calls and cancel those
still waiting for a worker (each logged), then wait, up to
`exit_grace_period` seconds in all, for the calls that run.  What still runs
after that is abandoned with a warning naming each call.  Then the ambient
loop stops, cancelling its tasks (their ``finally`` blocks run).

This runs before Python joins non-daemon threads, as `concurrent.futures`
does it, so a thread blocked on ambient work is released rather than
keeping the interpreter alive for ever.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Protocol

logger = logging.getLogger("unsync")

DEFAULT_GRACE_PERIOD = 5.0


class Pool(Protocol):
    """What exit needs of a worker pool."""

    def stop_at_exit(self) -> list[str]:
        """Refuse new calls, cancel the calls that never started; return their names."""
        ...

    def running_calls(self) -> list[str]:
        """The calls that run now, by name."""
        ...

    def wait_for_running_calls(self, deadline: float | None) -> None:
        """Return once no call runs, or at ``deadline`` (`time.monotonic`; None: no limit)."""
        ...


class State:
    """The exit's settings and progress (one per process)."""

    grace_period: float | None = DEFAULT_GRACE_PERIOD
    exiting = False  # set once the exit has begun: pools refuse new calls


state = State()
pools: weakref.WeakSet[Pool] = weakref.WeakSet()
# What runs last, once the pools are done: stopping the ambient loop.
final_steps: list[Callable[[], None]] = []


def check_grace_period(seconds: object) -> float | None:
    """``seconds`` if it is a valid grace period (a number >= 0, or None); a clear error otherwise."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"a grace period is a number of seconds, or None to wait as long as it takes, not {seconds!r}")
    if not seconds >= 0:  # also refuses NaN
        raise ValueError(f"a grace period cannot be negative (or NaN), not {seconds!r}")
    return float(seconds)


def run_exit() -> None:
    """Finish or abandon the pools' calls, then run the final steps."""
    state.exiting = True
    grace = state.grace_period
    deadline = None if grace is None else time.monotonic() + grace
    live = list(pools)
    for pool in live:
        for name in pool.stop_at_exit():
            logger.warning("%s was cancelled at interpreter exit: it had not started", name)
    for pool in live:
        pool.wait_for_running_calls(deadline)
    for pool in live:
        for name in pool.running_calls():
            logger.warning(
                "%s was still running %s s after interpreter exit began, and was abandoned "
                "(set unsync.exit_grace_period to wait longer)",
                name,
                grace,
            )
    for step in final_steps:
        step()


def call_before_threads_are_joined(fn: Callable[[], None]) -> bool:
    """Run ``fn`` at interpreter exit before non-daemon threads are joined; False if only after.

    Python offers this only through `threading._register_atexit`, private,
    which `concurrent.futures` uses for the same purpose.  Without it,
    `atexit` runs ``fn`` after the join, so a non-daemon thread blocked on
    ambient work would keep the interpreter alive.
    (tests/test_exit.py shows the difference, and fails if this stops working.)
    """
    register = getattr(threading, "_register_atexit", None)
    if register is None:  # pragma: no cover - every CPython from 3.9 has it
        atexit.register(fn)
        return False
    register(fn)
    return True


call_before_threads_are_joined(run_exit)
