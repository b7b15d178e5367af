"""Streams: generators decorated with ``@unsync``, consumed from sync or async code.

A call to an ``@unsync`` generator function returns an `UnsyncStream`: a plain
iterator in sync code (any thread) and an async iterator on any event loop.
It is the consumer's handle on a `Feed` (see `_feeds` for how the generator
is driven).  Dropping it closes the generator: nothing else on the
consumer's side refers to the feed.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncGenerator, Callable, Generator
from types import TracebackType
from typing import Any, Generic, TypeVar

from ._anyio_portal import ambient_loop
from ._feeds import NEXT, End, Failure, Feed, LoopFeed, Runner, Step, ThreadFeed, drive_async_generator
from ._future import Unfuture, set_outcome

__all__ = ["UnsyncStream", "check_read_ahead", "generator_kind", "stream_runner"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

DEFAULT_READ_AHEAD = 1


class UnsyncStream(Generic[T_co]):
    """The items of one call to an ``@unsync`` generator function.

    Iterate it with ``for`` in sync code (any thread) or ``async for`` on
    any event loop; the generator runs on the ambient loop (``async def``)
    or in worker threads (plain ``def``), at most ``read_ahead`` items
    ahead of the consumer:

        >>> from unsync import unsync
        >>> @unsync
        ... async def countdown(n: int):
        ...     while n:
        ...         yield n
        ...         n -= 1
        >>> list(countdown(3))
        [3, 2, 1]

    ``with`` / ``async with`` close it on exit; so do `close` and `aclose`,
    garbage collection, and the cancellation (or Ctrl-C) of a consumer
    waiting for an item.  Closing runs the generator's ``finally`` where
    the generator runs.
    """

    __slots__ = ("__weakref__", "_feed")

    def __init__(self, feed: Feed) -> None:
        self._feed = feed

    # -- sync ------------------------------------------------------------------

    def __iter__(self) -> UnsyncStream[T_co]:
        return self

    def __next__(self) -> T_co:
        return self._wait(NEXT)

    def send(self, value: Any) -> T_co:
        """Send ``value`` into the generator (as ``generator.send``); return its next item."""
        return self._wait(self._direct(Step(value), "send"))

    def throw(self, error: BaseException) -> T_co:
        """Raise ``error`` inside the generator at its ``yield``; return its next item."""
        return self._wait(self._direct(Step(error=_check_error(error)), "throw"))

    def close(self) -> None:
        """Close the generator and wait until its cleanup has run; raise what the cleanup raised."""
        if self._feed.close():
            self._feed.stopped.result()
        else:
            self._feed.stopped.exception()

    def __enter__(self) -> UnsyncStream[T_co]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- async -------------------------------------------------------------------

    def __aiter__(self) -> UnsyncStream[T_co]:
        return self

    async def __anext__(self) -> T_co:
        return await self._await(NEXT)

    async def asend(self, value: Any) -> T_co:
        """Send ``value`` into the generator (as ``agen.asend``); return its next item."""
        return await self._await(self._direct(Step(value), "asend"))

    async def athrow(self, error: BaseException) -> T_co:
        """Raise ``error`` inside the generator at its ``yield``; return its next item."""
        return await self._await(self._direct(Step(error=_check_error(error)), "athrow"))

    async def aclose(self) -> None:
        """Close the generator and wait until its cleanup has run; raise what the cleanup raised."""
        import anyio  # here, not at `import unsync`: a cold start would pay for it

        initiated = self._feed.close()
        with anyio.CancelScope(shield=True):
            error = await _outcome_of(self._feed.stopped)
        if initiated and error is not None:
            raise error

    async def __aenter__(self) -> UnsyncStream[T_co]:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- shared --------------------------------------------------------------------

    def _direct(self, step: Step, method: str) -> Step:
        if step.value is None and step.error is None:
            return NEXT
        if self._feed.read_ahead:
            raise RuntimeError(
                f"{self._feed.name}: {method}() needs a stream without read-ahead (the generator has already "
                "run past the item you are answering): decorate it with @unsync(read_ahead=0)"
            )
        return step

    def _wait(self, command: Step) -> T_co:
        outcome = self._feed.request(command)
        if isinstance(outcome, Unfuture):
            try:
                outcome = outcome.result()
            except BaseException:
                # Interrupted (Ctrl-C) or refused while waiting: the stream ends
                # here, and its cleanup runs before the interruption goes on
                # (a second Ctrl-C stops that wait too).
                self._feed.close()
                with contextlib.suppress(Exception):
                    self._feed.stopped.exception()
                raise
        if isinstance(outcome, End):
            raise StopIteration
        return self._unpack(outcome)

    async def _await(self, command: Step) -> T_co:
        outcome = self._feed.request(command)
        if isinstance(outcome, Unfuture):
            try:
                outcome = await outcome
            except BaseException:
                # The consuming task was cancelled: stop the generator and let
                # its cleanup finish before the cancellation goes on.
                import anyio  # here, not at `import unsync`: a cold start would pay for it

                self._feed.close()
                with anyio.CancelScope(shield=True):
                    await _outcome_of(self._feed.stopped)
                raise
        if isinstance(outcome, End):
            raise StopAsyncIteration
        return self._unpack(outcome)

    @staticmethod
    def _unpack(outcome: object) -> T_co:
        if isinstance(outcome, Failure):
            error = outcome.error
            try:
                raise error
            finally:
                del error, outcome
        return outcome  # type: ignore[return-value]  # any other outcome is an item the generator yielded

    def __del__(self) -> None:
        feed = getattr(self, "_feed", None)
        if feed is not None:
            feed.close()

    def __repr__(self) -> str:
        return f"<UnsyncStream of {self._feed.name}>"


async def _outcome_of(future: Unfuture[Any]) -> BaseException | None:
    """Wait for ``future`` without raising its exception; return the exception."""
    try:
        await future
    except BaseException as exc:
        return exc
    return None


def _check_error(error: object) -> BaseException:
    if isinstance(error, type) and issubclass(error, BaseException):
        return error()
    if not isinstance(error, BaseException):
        raise TypeError(f"throw() needs an exception instance or class, not {error!r}")
    return error


def check_read_ahead(read_ahead: object) -> int:
    """``read_ahead`` if it is a valid option value; a clear error otherwise."""
    if not isinstance(read_ahead, int) or isinstance(read_ahead, bool) or read_ahead < 0:
        raise TypeError(
            "read_ahead must be a whole number of items, 0 or more "
            f"(0: the generator runs only when asked), not {read_ahead!r}"
        )
    return read_ahead


def generator_kind(fn: Callable[..., Any]) -> str | None:
    """ "async" for an async generator function, "blocking" for a generator function, else None."""
    if inspect.isasyncgenfunction(fn):
        return "async"
    if inspect.isgeneratorfunction(fn):
        return "blocking"
    return None


def stream_runner(kind: str, read_ahead: int, run_in_thread: Runner) -> Runner:
    """How calls to a generator function of ``kind`` ("async" or "blocking") make their stream."""

    def start_async_stream(
        fn: Callable[..., AsyncGenerator[Any, Any]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Feed:
        generator = fn(*args, **kwargs)  # runs none of its body: bad arguments fail here, at the call
        feed = LoopFeed(_name_of(fn), read_ahead)
        ambient_loop.submit(drive_async_generator, (feed, generator), {}).add_done_callback(feed.abandon)
        return feed

    def start_blocking_stream(
        fn: Callable[..., Generator[Any, Any, Any]], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Feed:
        feed = ThreadFeed(_name_of(fn), read_ahead, fn(*args, **kwargs), run_in_thread)
        if read_ahead:
            with feed.lock:
                feed.idle = False
            feed.resume()
        return feed

    start = start_async_stream if kind == "async" else start_blocking_stream

    def run(
        fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], into: Unfuture[Any] | None
    ) -> UnsyncStream[Any]:
        stream: UnsyncStream[Any] = UnsyncStream(start(fn, args, kwargs))
        if into is not None:
            set_outcome(into, stream, None)
        return stream

    return run


def _name_of(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
