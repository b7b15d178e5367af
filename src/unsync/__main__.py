"""A short tour: ``python -m unsync [--backend asyncio|trio]``.

Four kinds of work are started at once from plain synchronous code: a
coroutine on the ambient loop, a blocking call in a worker thread, a CPU-bound
call in a worker process, and a continuation chained on the coroutine.  The
table shows where each ran and for how long, then the wall time of the whole
batch against the sum of its parts: overlap is the point.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence

import anyio

import unsync
from unsync import Unfuture
from unsync import unsync as run_unsynced

Report = tuple[str, str, float]


def _where() -> str:
    return f"pid {os.getpid()}, thread {threading.current_thread().name}"


@run_unsynced
async def fetch_pages(count: int) -> Report:
    start = time.perf_counter()
    async with anyio.create_task_group() as pages:
        for _ in range(count):
            pages.start_soon(anyio.sleep, 0.3)
    return f"{count} pages fetched concurrently", _where(), time.perf_counter() - start


@run_unsynced
def read_legacy_file(seconds: float) -> Report:
    start = time.perf_counter()
    time.sleep(seconds)
    return "blocking read in a thread", _where(), time.perf_counter() - start


@run_unsynced(cpu_bound=True)
def count_primes(limit: int) -> Report:
    start = time.perf_counter()
    primes = sum(all(n % d for d in range(2, int(n**0.5) + 1)) for n in range(2, limit))
    return f"{primes} primes below {limit:,}", _where(), time.perf_counter() - start


async def summarise(pages: Unfuture[Report]) -> Report:
    start = time.perf_counter()
    await anyio.sleep(0.1)
    label = pages.result()[0]
    return f"then(): summarised '{label}'", _where(), time.perf_counter() - start


def tour(backend: str, write: Callable[[str], object]) -> None:
    """Run the four kinds of work under ``backend`` and print the table."""
    unsync.shutdown()
    unsync.use_backend(backend)
    count_primes(10).result()  # start a worker process before the clock runs
    start = time.perf_counter()
    pages = fetch_pages(20)
    started = [pages, read_legacy_file(0.3), count_primes(150_000), pages.then(summarise)]
    reports = [future.result() for future in started]
    wall = time.perf_counter() - start

    write(f"\nbackend: {backend}   (called from pid {os.getpid()}, thread {threading.current_thread().name})")
    width = max(len(label) for label, _, _ in reports)
    for label, where, seconds in reports:
        write(f"  {label:<{width}}  {seconds:6.2f} s   {where}")
    parts = sum(seconds for _, _, seconds in reports)
    write(f"  {'wall time for all of it':<{width}}  {wall:6.2f} s   (sum of the parts: {parts:.2f} s)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m unsync",
        description="A short tour of unsync: coroutines, threads, processes and continuations overlapping.",
    )
    parser.add_argument(
        "--backend",
        choices=["asyncio", "trio", "both"],
        default="both",
        help="which ambient event loop to tour (default: asyncio, then trio)",
    )
    args = parser.parse_args(argv)
    backends = ["asyncio", "trio"] if args.backend == "both" else [args.backend]
    for backend in backends:
        try:
            tour(backend, print)
        except ImportError as exc:
            print(f"\nbackend: {backend}   skipped: {exc}", file=sys.stderr)
    unsync.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
