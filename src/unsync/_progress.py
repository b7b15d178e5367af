"""Following a fan-out: `as_completed` and `wait`, for progress bars and the like."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Generic, Literal, TypeVar

from ._future import Unfuture, set_outcome

__all__ = ["ALL_COMPLETED", "FIRST_COMPLETED", "FIRST_EXCEPTION", "as_completed", "wait"]

T = TypeVar("T")

# The same strings as concurrent.futures' constants.
FIRST_COMPLETED: Literal["FIRST_COMPLETED"] = "FIRST_COMPLETED"
"""`wait` returns as soon as one Unfuture is done."""
FIRST_EXCEPTION: Literal["FIRST_EXCEPTION"] = "FIRST_EXCEPTION"
"""`wait` returns as soon as one Unfuture fails, or when all are done."""
ALL_COMPLETED: Literal["ALL_COMPLETED"] = "ALL_COMPLETED"
"""`wait` returns when every Unfuture is done (the default)."""


class as_completed(Generic[T]):
    """Yield each Unfuture as it finishes, from sync or async code.

    In ordinary code it is an iterator that blocks between items; in a
    coroutine use ``async for``, which waits without blocking the loop (any
    asyncio or trio loop).  With ``timeout`` (seconds, counted from the
    call), `TimeoutError` is raised if some are still unfinished by then.

        >>> from unsync import Unfuture, as_completed
        >>> futures = [Unfuture.from_value(n) for n in range(3)]
        >>> sorted(f.result() for f in as_completed(futures))
        [0, 1, 2]

    ``len()`` is how many it has still to yield, so a progress bar such as
    tqdm's sizes itself:

    ```python
    for future in tqdm(as_completed(calls)):
        results.append(future.result())
    ```
    """

    def __init__(self, futures: Iterable[Unfuture[T]], timeout: float | None = None) -> None:
        self._pending = set(futures)
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._timeout = timeout
        self._finished: list[Unfuture[T]] = []
        self._lock = threading.Lock()
        self._arrived = threading.Event()
        self._async_arrived: Unfuture[None] | None = None
        for future in list(self._pending):
            future.add_done_callback(self._on_done)

    def _on_done(self, future: Unfuture[T]) -> None:
        with self._lock:
            self._finished.append(future)
            waiter, self._async_arrived = self._async_arrived, None
        self._arrived.set()
        if waiter is not None:
            set_outcome(waiter, None, None)

    def _take(self) -> Unfuture[T] | None:
        with self._lock:
            if not self._finished:
                self._arrived.clear()
                return None
            future = self._finished.pop(0)
        self._pending.discard(future)
        return future

    def _remaining(self) -> float | None:
        if self._deadline is None:
            return None
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{len(self._pending)} of the futures were not done within {self._timeout} seconds")
        return remaining

    def __len__(self) -> int:
        return len(self._pending)

    def __iter__(self) -> Iterator[Unfuture[T]]:
        return self

    def __next__(self) -> Unfuture[T]:
        while True:
            future = self._take()
            if future is not None:
                return future
            if not self._pending:
                raise StopIteration
            self._arrived.wait(self._remaining())

    def __aiter__(self) -> AsyncIterator[Unfuture[T]]:
        return self

    async def __anext__(self) -> Unfuture[T]:
        while True:
            future = self._take()
            if future is not None:
                return future
            if not self._pending:
                raise StopAsyncIteration
            arrived: Unfuture[None] = Unfuture()
            with self._lock:
                if self._finished:
                    continue
                self._async_arrived = arrived
            # An Unfuture is awaitable from any loop; a timeout is not its job.
            remaining = self._remaining()
            if remaining is None:
                await arrived
            else:
                await _with_timeout(arrived, remaining)


async def _with_timeout(arrived: Unfuture[None], seconds: float) -> None:
    import anyio  # here, not at `import unsync`: a cold start would pay for it

    with anyio.fail_after(seconds):
        await arrived


def wait(
    futures: Iterable[Unfuture[T]],
    timeout: float | None = None,
    return_when: Literal["FIRST_COMPLETED", "FIRST_EXCEPTION", "ALL_COMPLETED"] = ALL_COMPLETED,
) -> tuple[set[Unfuture[T]], set[Unfuture[T]]]:
    """Block until ``return_when`` holds or ``timeout`` passes; return ``(done, not_done)``.

    The same contract as `concurrent.futures.wait`, for Unfutures:

        >>> from unsync import Unfuture, wait
        >>> done, not_done = wait([Unfuture.from_value(1), Unfuture()], timeout=0.01)
        >>> len(done), len(not_done)
        (1, 1)
    """
    if return_when not in (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED):
        raise ValueError(f"return_when must be FIRST_COMPLETED, FIRST_EXCEPTION or ALL_COMPLETED, not {return_when!r}")
    pending = set(futures)
    done: set[Unfuture[T]] = set()
    try:
        for future in as_completed(pending, timeout):
            done.add(future)
            if return_when == FIRST_COMPLETED:
                break
            if return_when == FIRST_EXCEPTION and not future.cancelled() and future.exception() is not None:
                break
    except TimeoutError:
        pass
    done |= {future for future in pending if future.done()}
    return done, pending - done
