"""Streams: the cost per item of an ``@unsync`` generator, against a plain `asyncio.Queue` hand-off.

Two directions, each timed over ``n`` items:

* an async generator on the ambient loop read by a ``for`` loop in sync
  code, against a coroutine on a loop thread putting into an
  ``asyncio.Queue(maxsize=1)`` that sync code reads with
  ``run_coroutine_threadsafe(queue.get(), loop).result()``;
* a blocking generator read by ``async for`` in ``asyncio.run``, against a
  thread putting into an ``asyncio.Queue(maxsize=1)`` with
  ``run_coroutine_threadsafe(queue.put(item), loop).result()``.

Both references bound the queue, so that, like a stream, the producer waits
for the consumer; unsync is timed with ``read_ahead=0`` and the default.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator

from workloads import Workload, timed

from unsync import unsync

DONE = object()


async def numbers_async(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


def numbers_blocking(n: int) -> Iterator[int]:
    yield from range(n)


STREAMS = {
    "read_ahead=0": (unsync(read_ahead=0)(numbers_async), unsync(read_ahead=0)(numbers_blocking)),
    "default read_ahead": (unsync(numbers_async), unsync(numbers_blocking)),
}


def read_async_stream_from_sync_code(read_ahead: str) -> Workload:
    stream_of = STREAMS[read_ahead][0]

    def run(n: int) -> float:
        return timed(lambda: sum(stream_of(n)))

    return run


def read_blocking_stream_in_asyncio_run(read_ahead: str) -> Workload:
    stream_of = STREAMS[read_ahead][1]

    async def consume(n: int) -> None:
        async for _ in stream_of(n):
            pass

    def run(n: int) -> float:
        return timed(lambda: asyncio.run(consume(n)))

    return run


def queue_from_a_loop_thread_to_sync_code(n: int) -> float:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    queue: asyncio.Queue[object] = asyncio.run_coroutine_threadsafe(make_queue(), loop).result()

    async def produce() -> None:
        for i in range(n):
            await queue.put(i)
        await queue.put(DONE)

    def body() -> None:
        asyncio.run_coroutine_threadsafe(produce(), loop)
        while asyncio.run_coroutine_threadsafe(queue.get(), loop).result() is not DONE:
            pass

    try:
        return timed(body)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def queue_from_a_thread_into_asyncio_run(n: int) -> float:
    async def consume() -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=1)

        def produce() -> None:
            for i in range(n):
                asyncio.run_coroutine_threadsafe(queue.put(i), loop).result()
            asyncio.run_coroutine_threadsafe(queue.put(DONE), loop).result()

        threading.Thread(target=produce, daemon=True).start()
        while await queue.get() is not DONE:
            pass

    return timed(lambda: asyncio.run(consume()))


async def make_queue() -> asyncio.Queue[object]:
    return asyncio.Queue(maxsize=1)


def stream_samples(rounds: int, n: int) -> dict[str, list[float]]:
    """Microseconds per item of each contestant, ``rounds`` interleaved rounds of ``n`` items."""
    contestants: dict[str, Workload] = {
        "async stream into sync code / asyncio.Queue from a loop thread": queue_from_a_loop_thread_to_sync_code,
        "blocking stream into asyncio.run / asyncio.Queue from a thread": queue_from_a_thread_into_asyncio_run,
    }
    for read_ahead in STREAMS:
        contestants[f"async stream into sync code / unsync {read_ahead}"] = read_async_stream_from_sync_code(read_ahead)
        contestants[f"blocking stream into asyncio.run / unsync {read_ahead}"] = read_blocking_stream_in_asyncio_run(
            read_ahead
        )
    samples: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        for name, workload in contestants.items():
            samples[name].append(workload(n) / n * 1e6)
    return samples


if __name__ == "__main__":
    for name, values in sorted(stream_samples(1, int(sys.argv[1]) if len(sys.argv) > 1 else 10_000).items()):
        print(f"{name:<70} {min(values):6.2f} us per item")
