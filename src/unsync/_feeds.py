"""The two ends of a stream: what an ``@unsync`` generator's producer and consumer share.

Both sides meet in a `Feed`: a small lock-protected record holding
the read-ahead buffer, the one consumer waiting for an item (as an
`Unfuture`), and whether the producer is idle.  Handing items over through
Unfutures is what makes "any thread, any loop" work on the consumer side
for free: an Unfuture blocks in sync code and is awaitable from asyncio and
trio alike.  When the buffer holds an item, the consumer takes it under the
lock without making an Unfuture at all.

* An async generator is driven by ONE task on the ambient loop for its whole
  life (started through ``ambient_loop.submit``).  Its cancel scopes, task
  groups and contextvars stay in one task, as they must; a task per item
  would break every generator that opens a task group or a timeout across
  a ``yield``.  When the buffer is full the task parks on an Unfuture that
  the consumer completes from whichever thread it runs in.  A sibling task
  waits for a close request and cancels the step in progress, so closing
  never waits for an ``await`` inside the generator that may never end.
* A blocking generator is stepped in the worker pool, one run per burst of
  demand: a run produces items while the consumer wants them (or the
  buffer has room) and returns its worker to the pool when the buffer is
  full.  So a generator holds a worker only while it computes (or blocks
  in ``next()``), never while it is paused, and a thousand open streams
  need no thread each.  Consecutive runs may land on different threads;
  each step runs in the context of the call that made the stream.

The generator only runs as far as the consumer has asked plus ``read_ahead``
items, and an idle producer is woken once half of those are taken, to refill
them in one go.  It is always closed where it runs (on the ambient loop or in a
worker): after it ends, when the consumer closes the stream, when the
consumer is cancelled or interrupted while waiting, and when the stream is
garbage-collected (its ``__del__`` only asks for the close, which never
blocks).  Items are handed over as they are; an exception raised in the
generator is handed over as an exception object, so it is raised at the
consumer's ``next()``/``__anext__()`` with the generator's frames in its
traceback.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import threading
from collections import deque
from collections.abc import AsyncGenerator, Callable, Generator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import anyio

from ._future import Unfuture, set_outcome

__all__ = ["CLOSE", "END", "NEXT", "End", "Failure", "Feed", "LoopFeed", "Step", "ThreadFeed", "drive_async_generator"]

# runner(fn, args, kwargs, into), as in _decorator: for a stream, ``into`` (a continuation's
# Unfuture) gets the stream as its value.
Runner = Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any], Unfuture[Any] | None], Any]


class Step:
    """What the producer does next: send ``value`` into the generator, throw ``error`` into it, or close it."""

    __slots__ = ("close", "error", "value")

    def __init__(self, value: Any = None, error: BaseException | None = None, *, close: bool = False) -> None:
        self.value: Any = value
        self.error: BaseException | None = error
        self.close: bool = close


NEXT = Step()
CLOSE = Step(close=True)


class Failure:
    """The generator raised ``error``: handed to the consumer in place of an item."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class End:
    """The generator is exhausted (one instance, `END`)."""

    __slots__ = ()


END = End()


class Feed:
    """What a stream's consumer and producer share; every field is guarded by ``lock``.

    The producer asks `want` what to do, and reports with `deliver` and
    `finish`; the consumer calls `request` and `close`.  `resume` wakes an
    idle producer and is called outside the lock, exactly once per idle
    period.
    """

    def __init__(self, name: str, read_ahead: int, *, idle: bool) -> None:
        self.name = name
        self.read_ahead = read_ahead
        self.lock: threading.Lock = threading.Lock()
        self.buffer: deque[object] = deque()
        self.consumer: Unfuture[object] | None = None
        self.command: Step = NEXT  # what the waiting consumer asked for
        self.idle: bool = idle
        self.exhausted: bool = False  # the generator has ended or failed: nothing more will come
        self.closing: bool = False  # the consumer closed the stream
        # Settled once the generator is closed and its cleanup has run;
        # fails with what its cleanup raised, if anything.
        self.stopped: Unfuture[None] = Unfuture()

    def resume(self) -> None:
        raise NotImplementedError

    # -- the consumer's side ----------------------------------------------------

    def request(self, command: Step) -> object:
        """An item, `END` or a `Failure`, or an Unfuture of one to wait for."""
        with self.lock:
            if self.closing:
                raise RuntimeError(f"{self.name}: the stream was closed; call the function again for a new stream")
            if self.consumer is not None:
                raise RuntimeError(
                    f"{self.name}: another consumer is already waiting for the next item of this stream; "
                    "a stream has one consumer at a time (start one stream per consumer)"
                )
            if self.buffer:
                outcome = self.buffer.popleft()
                # Woken when half the read-ahead is used up, the producer refills
                # it in one go: one wake-up per few items instead of per item.
                wake = self.idle and not self.exhausted and len(self.buffer) <= self.read_ahead // 2
            elif self.exhausted:
                return END
            else:
                outcome = self.consumer = Unfuture()
                self.command = command
                wake = self.idle
            if wake:
                self.idle = False
        if wake:
            self.resume()
        return outcome

    def close(self) -> bool:
        """Ask for the generator to be closed; return False if it already was asked."""
        with self.lock:
            if self.closing:
                return False
            self.closing = True
            self.buffer.clear()
            consumer, self.consumer = self.consumer, None
            wake, self.idle = self.idle, False
        if consumer is not None:  # waiting in another thread: it sees the end
            set_outcome(consumer, END, None)
        if wake:
            self.resume()
        return True

    # -- the producer's side ----------------------------------------------------

    def want(self) -> Step | None:
        """The next step, or None after marking the producer idle (then wait for `resume`)."""
        with self.lock:
            if self.closing or self.exhausted:
                return CLOSE
            if self.consumer is not None:
                step, self.command = self.command, NEXT
                return step
            if len(self.buffer) < self.read_ahead:
                return NEXT
            self.idle = True
            self.park()
            return None

    def park(self) -> None:
        """Called under the lock as the producer becomes idle."""

    def deliver(self, outcome: object) -> None:
        with self.lock:
            if outcome is END or isinstance(outcome, Failure):
                self.exhausted = True
            consumer, self.consumer = self.consumer, None
            if consumer is None:
                if not self.closing:
                    self.buffer.append(outcome)
                return
        set_outcome(consumer, outcome, None)

    def finish(self, cleanup_error: BaseException | None) -> None:
        """The generator is closed and its cleanup ran."""
        with self.lock:
            self.exhausted = True
            consumer, self.consumer = self.consumer, None
        if consumer is not None:
            set_outcome(consumer, END, None)
        set_outcome(self.stopped, None, cleanup_error)


class LoopFeed(Feed):
    """The feed of an async generator, whose driver task parks on an Unfuture while idle."""

    def __init__(self, name: str, read_ahead: int) -> None:
        super().__init__(name, read_ahead, idle=False)
        self.wakeup: Unfuture[None] = Unfuture()
        # Set by close(): the driver then cancels the step it is running.
        self.close_requested: Unfuture[None] = Unfuture()

    def park(self) -> None:
        self.wakeup = Unfuture()

    def resume(self) -> None:
        set_outcome(self.wakeup, None, None)

    def close(self) -> bool:
        if not super().close():
            return False
        set_outcome(self.close_requested, None, None)
        return True

    def abandon(self, driver: Unfuture[None]) -> None:
        """The driver task never ran (the ambient loop stopped first): end the stream with an error."""
        if driver.cancelled() and not self.stopped.done():
            self.deliver(Failure(concurrent.futures.CancelledError(f"{self.name}: the ambient loop stopped")))
            self.finish(None)


async def drive_async_generator(feed: LoopFeed, generator: AsyncGenerator[Any, Any]) -> None:
    """Run ``generator`` on the ambient loop as far as ``feed`` asks, then close it there."""
    import anyio  # here, not at `import unsync`: a cold start would pay for it

    cleanup_error: BaseException | None = None
    try:
        async with anyio.create_task_group() as task_group:
            # A close must not wait for the step in progress, which may be
            # awaiting something that takes forever: it cancels the step.
            task_group.start_soon(cancel_on_close, feed, task_group.cancel_scope)
            await step_through(feed, generator)
            task_group.cancel_scope.cancel()
    finally:
        # Shielded: the generator's `finally` may await, even when the loop is stopping.
        with anyio.CancelScope(shield=True):
            try:
                await generator.aclose()
            except BaseException as exc:
                cleanup_error = exc
        feed.finish(cleanup_error)


async def cancel_on_close(feed: LoopFeed, scope: anyio.CancelScope) -> None:
    await feed.close_requested
    scope.cancel()


async def step_through(feed: LoopFeed, generator: AsyncGenerator[Any, Any]) -> None:
    import anyio  # here, not at `import unsync`: a cold start would pay for it

    while (step := feed.want()) is not CLOSE:
        try:
            if step is None:
                await feed.wakeup
                continue
            if step.error is not None:
                item = await generator.athrow(step.error)
            else:
                item = await generator.asend(step.value)
        except StopAsyncIteration:
            feed.deliver(END)
        except anyio.get_cancelled_exc_class():
            # Closed by the consumer (then nobody sees this), or the ambient
            # loop is stopping, in a step or while waiting for the consumer:
            # the consumer gets an error, not a silent end.
            feed.deliver(Failure(concurrent.futures.CancelledError(f"{feed.name}: the ambient loop stopped")))
            raise
        except BaseException as exc:
            feed.deliver(Failure(exc))
        else:
            feed.deliver(item)
        del step


class ThreadFeed(Feed):
    """The feed of a blocking generator, stepped in the worker pool while there is demand."""

    def __init__(self, name: str, read_ahead: int, generator: Generator[Any, Any, Any], run_in_thread: Runner) -> None:
        super().__init__(name, read_ahead, idle=True)
        self.generator = generator
        self.run_in_thread = run_in_thread
        # Each step runs in the context of the call that made the stream.  It
        # is entered per step, not per run: a run has left it before it marks
        # the producer idle, so the next run, in another worker, may enter it.
        self.context = contextvars.copy_context()

    def resume(self) -> None:
        try:
            self.run_in_thread(self.run_steps, (), {}, None)
        except BaseException as exc:  # e.g. the pool was shut down
            self.deliver(Failure(exc))
            self.finish(None)

    def run_steps(self) -> None:
        generator, run = self.generator, self.context.run
        while (step := self.want()) is not None:
            if step is CLOSE:
                try:
                    run(generator.close)
                except BaseException as exc:
                    self.finish(exc)
                else:
                    self.finish(None)
                return
            try:
                item = run(generator.throw, step.error) if step.error is not None else run(generator.send, step.value)
            except StopIteration:
                self.deliver(END)
            except BaseException as exc:
                self.deliver(Failure(exc))
            else:
                self.deliver(item)
            del step
