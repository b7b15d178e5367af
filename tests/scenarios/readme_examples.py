"""The scenarios unsync users know from the 1.4.0 README, rewritten as tests."""

from __future__ import annotations

import time

import anyio

from unsync import Unfuture, unsync


@unsync
async def pause_and_report(label: str) -> str:
    await anyio.sleep(0.2)
    return label


@unsync
def blocking_io(seconds: float) -> str:
    time.sleep(seconds)
    return "done"


@unsync
async def step_one(request: int) -> int:
    await anyio.sleep(0.1)
    return request + 1


@unsync
async def step_two(previous: Unfuture[int]) -> int:
    await anyio.sleep(0.1)
    return previous.result() * 2


@unsync
def pair(n: int) -> tuple[int, int]:
    return n, n + 1


@unsync
async def double_second(previous: Unfuture[tuple[int, int]]) -> tuple[int, int]:
    await anyio.sleep(0.1)
    n, value = previous.result()
    return n, value * 2


@unsync
async def collect(futures: list[Unfuture[tuple[int, int]]]) -> dict[int, int]:
    collected = {}
    for future in futures:
        n, value = await future
        collected[n] = value
    return collected


def test_two_concurrent_sleeps_take_one_sleep() -> None:
    start = time.perf_counter()
    first, second = pause_and_report("a"), pause_and_report("b")
    assert first.result() + second.result() == "ab"
    assert time.perf_counter() - start < 0.35


def test_ten_blocking_calls_overlap_in_threads() -> None:
    start = time.perf_counter()
    calls = [blocking_io(0.1) for _ in range(10)]
    assert [call.result() for call in calls] == ["done"] * 10
    assert time.perf_counter() - start < 0.5


def test_a_continuation_chain() -> None:
    start = time.perf_counter()
    assert step_one(3).then(step_two).result() == 8
    assert time.perf_counter() - start < 0.5


def test_mixing_threads_continuations_and_coroutines() -> None:
    start = time.perf_counter()
    result = collect([pair(i).then(double_second) for i in range(10)]).result()
    assert result == {i: 2 * (i + 1) for i in range(10)}
    assert time.perf_counter() - start < 0.5
