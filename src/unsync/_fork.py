"""What the state of unsync becomes in a child made by ``os.fork()``.

The child has only the thread that forked: the loop, the worker threads and
the other holders of limiter slots stayed behind in the parent, with the work
they were doing, and any of their locks may have been caught held.  Each
producer registers how it forgets that state with `forget_in_child`; its
callback re-creates its locks and returns the Unfutures whose work was lost.
Only once every producer has forgotten its state do those Unfutures fail
(with `lost_in_fork`), since failing one runs its callbacks, which may reach
into any producer.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
from collections.abc import Callable, Iterable
from typing import Any

from ._future import Unfuture, set_outcome

# What a producer forgets: its lost calls' futures (a thread pool's submit() ones are concurrent futures).
Forget = Callable[[], Iterable[Unfuture[Any] | concurrent.futures.Future[Any]]]

_forgetters: list[Forget] = []


def forget_in_child(forget: Forget) -> None:
    """Call ``forget()`` in every child forked from now on; fail the Unfutures it returns."""
    _forgetters.append(forget)


def lost_in_fork(future: object) -> RuntimeError:
    """The error for ``future``, whose work stayed in the parent process when it forked."""
    return RuntimeError(
        f"{future!r} was not done when this process was forked: its work runs in the parent "
        "process and does not exist in this child; make the call again in the child"
    )


def _forget_everything() -> None:
    lost = [future for forget in _forgetters for future in list(forget())]
    for future in lost:
        if isinstance(future, Unfuture):
            set_outcome(future, None, lost_in_fork(future))
        else:
            with contextlib.suppress(concurrent.futures.InvalidStateError):  # it ended meanwhile
                future.set_exception(lost_in_fork(future))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_everything)
