"""The measured workloads, importable both by the benchmark runner and by the
probe that runs the same measurements against unsync 1.4.0 in its own venv.

Every workload is a function ``(n) -> seconds`` that performs ``n`` operations;
the runner turns that into microseconds per operation.
"""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

Workload = Callable[[int], float]


def timed(body: Callable[[], Any]) -> float:
    start = time.perf_counter()
    body()
    return time.perf_counter() - start


def round_trip(call: Callable[[], Any]) -> Workload:
    """``call().result()`` n times in a row."""

    def run(n: int) -> float:
        def body() -> None:
            for _ in range(n):
                call().result()

        return timed(body)

    return run


def burst(call: Callable[[], Any]) -> Workload:
    """Submit n calls, then collect every result."""

    def run(n: int) -> float:
        def body() -> None:
            futures = [call() for _ in range(n)]
            for future in futures:
                future.result()

        return timed(body)

    return run


def memory_per_pending_call(start_sleeping: Callable[[], Any], settle: Callable[[], object], n: int) -> float:
    """Bytes allocated per call while ``n`` sleeping calls are in flight."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    keep = [start_sleeping() for _ in range(n)]
    settle()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del keep
    return (after - before) / n


async def sleep_long() -> None:
    await asyncio.sleep(3600)


async def return_at_once() -> int:
    return 1


def return_at_once_sync() -> int:
    return 1
