"""What programs written for unsync 1.4.0 rely on, kept working on the new design.

* ``Unfuture(coroutine)`` and ``Unfuture(awaitable)``: `adopt`, the source
  adapter that the package installs with `set_source_adapter`;
* ``unfuture.future``: `future_view`, a deprecated `concurrent.futures.Future`
  that follows the Unfuture;
* a continuation written for a value: `explain_value_continuation` adds a note
  to its error, since `Unfuture.then` passes the finished Unfuture.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
import warnings
import weakref
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

import sniffio

from ._anyio_portal import ambient_loop
from ._future import Producer, Unfuture, mirror, set_cancelled, set_outcome, start_unshared

T = TypeVar("T")


def adopt(source: object, future: Unfuture[Any]) -> bool:
    """The source adapter: make the new ``future`` follow ``source``; False for a source of no known kind.

    An asyncio Future or Task is followed on its own loop; a coroutine, or
    another awaitable, is awaited on the ambient loop.
    """
    if asyncio.isfuture(source):
        follow_asyncio_future(source, future)
        return True
    if inspect.iscoroutine(source):
        future.add_done_callback(lambda done: close_if_cancelled(done, source))
        ambient_loop.submit(await_source, (source,), {}, into=future)
        return True
    if inspect.isawaitable(source):
        if runs_another_event_loop():
            raise TypeError(
                f"Unfuture({type(source).__name__} object) inside a running event loop is ambiguous: "
                "it may belong to this loop or to unsync's. Await it here, or pass a coroutine that awaits it "
                "(it runs on unsync's ambient loop)"
            )
        ambient_loop.submit(await_source, (source,), {}, into=future)
        return True
    return False


def close_if_cancelled(done: Unfuture[Any], coroutine: Coroutine[Any, Any, Any]) -> None:
    # Cancelled before it started, it would warn that it was never awaited; closing a finished one does nothing.
    if done.cancelled():
        coroutine.close()


async def await_source(source: Awaitable[T]) -> T:
    return await source


def runs_another_event_loop() -> bool:
    """True if this thread runs an event loop that is not the ambient one."""
    try:
        sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return False
    return threading.current_thread() is not ambient_loop.thread


class AsyncioFutureProducer(Producer):
    """An asyncio Future or Task, followed from its own loop; cancelled there too."""

    def cancel(self, future: Unfuture[Any], work: Any) -> bool:
        try:
            work.get_loop().call_soon_threadsafe(work.cancel)
        except RuntimeError:  # its loop is closed: nothing can stop it any more
            return False
        return True


ASYNCIO_FUTURE = AsyncioFutureProducer()


def follow_asyncio_future(source: asyncio.Future[Any], future: Unfuture[Any]) -> None:
    def copy_outcome(done: asyncio.Future[Any]) -> None:
        if done.cancelled():
            set_cancelled(future)
        elif (error := done.exception()) is not None:
            set_outcome(future, None, error)
        else:
            set_outcome(future, done.result(), None)

    start_unshared(future, ASYNCIO_FUTURE, source)
    # An asyncio future's callbacks may only be added from its loop's thread.
    try:
        source.get_loop().call_soon_threadsafe(source.add_done_callback, copy_outcome)
    except RuntimeError:
        if not source.done():
            raise ValueError(f"Unfuture({source!r}) would never finish: its event loop is closed") from None
        copy_outcome(source)


# -- Unfuture.future -----------------------------------------------------------------------


class FutureView(concurrent.futures.Future[T]):
    """unsync 1.4.0's ``Unfuture.future``: a `concurrent.futures.Future` that follows an Unfuture.

    Queries and waits go to the Unfuture; the view's own state, which
    `concurrent.futures.wait`, `asyncio.wrap_future` and its callbacks rely
    on, is set from the Unfuture's done callback.
    """

    def __init__(self, unfuture: Unfuture[T]) -> None:
        super().__init__()
        self.unfuture = unfuture
        unfuture.add_done_callback(self.copy_outcome)

    def copy_outcome(self, done: Unfuture[T]) -> None:
        if done.cancelled():
            super().cancel()
            self.set_running_or_notify_cancel()  # wakes concurrent.futures.wait()
        elif (error := done.exception()) is not None:
            self.set_exception(error)
        else:
            self.set_result(done.result())

    def cancel(self) -> bool:
        return self.unfuture.cancel()

    def cancelled(self) -> bool:
        return self.unfuture.cancelled()

    def running(self) -> bool:
        return self.unfuture.running()

    def done(self) -> bool:
        return self.unfuture.done()

    def result(self, timeout: float | None = None) -> T:
        return self.unfuture.result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        return self.unfuture.exception(timeout)


# One view per Unfuture while anybody holds it.  Keyed by id: the view keeps
# its Unfuture alive, so the id cannot be reused while the entry exists.
views: weakref.WeakValueDictionary[int, FutureView[Any]] = weakref.WeakValueDictionary()
views_lock = threading.Lock()


def future_view(unfuture: Unfuture[T]) -> concurrent.futures.Future[T]:
    """`Unfuture.future`: warn, then return the Unfuture's `FutureView`."""
    warnings.warn(
        "Unfuture.future is deprecated: an Unfuture is itself a future; call cancel(), result(), done() "
        "or add_done_callback() on it directly, or await it",
        DeprecationWarning,
        stacklevel=3,  # the line that read `.future`, past the property
    )
    with views_lock:
        view = views.get(id(unfuture))
        if view is None:
            view = views[id(unfuture)] = FutureView(unfuture)
    return view


# -- continuations written for a value -------------------------------------------------------------

VALUE_CONTINUATION_NOTE = (
    "then() passes the finished Unfuture to the continuation, not its value (unsync 1.4.0 passed the value): "
    "read the value with .result(), e.g. then(lambda done: done.result() + 1)"
)


def explain_value_continuation(error: BaseException | None, argument: object) -> None:
    """Note on ``error`` that a continuation got the Unfuture ``argument`` where it expected a value."""
    if (
        isinstance(error, (TypeError, AttributeError))
        and isinstance(argument, Unfuture)
        and "Unfuture" in str(error)
        and VALUE_CONTINUATION_NOTE not in getattr(error, "__notes__", ())
    ):
        error.add_note(VALUE_CONTINUATION_NOTE)


def step_with_value_hint(source: Unfuture[Any], into: Unfuture[Any]) -> Unfuture[Any]:
    """What a continuation of ``source`` settles instead of ``into``, which then copies its outcome.

    A failure gets its note (`explain_value_continuation`) before ``into``
    is settled, so whoever waits for ``into`` sees the note.  Cancelling
    ``into`` cancels the step.
    """
    step: Unfuture[Any] = Unfuture()
    step.add_done_callback(lambda done: explain_value_continuation(outcome_error(done), source))
    mirror(step, into)  # its callback runs after the note's
    if into.cancelled():  # before mirror() could start it
        set_cancelled(step)
    return step


def outcome_error(done: Unfuture[Any]) -> BaseException | None:
    return None if done.cancelled() else done.exception()
