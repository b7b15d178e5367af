"""Whole programs, as users write them, on each ambient backend."""

from __future__ import annotations

import pytest

from conftest import RunPython

COMMON = """
import asyncio, os, sys, time
import anyio
import unsync
from unsync import unsync as decorator
unsync.use_backend(sys.argv[1] if len(sys.argv) > 1 else {backend!r})

@decorator
async def fetch(n):
    await anyio.sleep(0.1)
    return n

@decorator
def read_file(n):
    time.sleep(0.1)
    return n

@decorator(cpu_bound=True)
def crunch(n):
    return sum(range(n)), os.getpid()
"""


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_plain_script(run_python: RunPython, backend: str) -> None:
    proc = run_python(
        COMMON.format(backend=backend)
        + """
if __name__ == "__main__":
    start = time.perf_counter()
    futures = [fetch(1), read_file(2), crunch(100)]
    total, pid = futures[2].result()
    print(futures[0].result(), futures[1].result(), total, pid != os.getpid())
"""
    )
    assert proc.stdout.split() == ["1", "2", "4950", "True"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_an_asyncio_program(run_python: RunPython, backend: str) -> None:
    proc = run_python(
        COMMON.format(backend=backend)
        + """
async def main():
    unsync.thread  # the ambient loop starts here (imports included), outside the timed part
    start = time.perf_counter()
    results = await asyncio.gather(*(fetch(i) for i in range(10)), read_file(10))
    quick = time.perf_counter() - start < 0.8  # one after the other: 1.1 s
    try:
        await asyncio.wait_for(fetch(99), timeout=0.01)
    except TimeoutError:
        timed_out = True
    total, _ = await crunch(10)
    return results, quick, timed_out, total

if __name__ == "__main__":
    print(*asyncio.run(main()))
"""
    )
    assert proc.stdout.strip() == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10] True True 45"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_trio_program(run_python: RunPython, backend: str) -> None:
    proc = run_python(
        COMMON.format(backend=backend)
        + """
import trio

async def main():
    results = []

    async def run(future):
        results.append(await future)

    unsync.thread  # the ambient loop starts here (imports included), outside the timed part
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for i in range(10):
            nursery.start_soon(run, fetch(i))
        nursery.start_soon(run, read_file(10))
    quick = time.perf_counter() - start < 0.8  # one after the other: 1.1 s
    with trio.move_on_after(0.01) as scope:
        await fetch(99)
    total, _ = await crunch(10)
    return sorted(results), quick, scope.cancelled_caught, total

if __name__ == "__main__":
    print(*trio.run(main))
"""
    )
    assert proc.stdout.strip() == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10] True True 45"
