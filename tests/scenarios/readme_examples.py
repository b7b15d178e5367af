"""The scenarios unsync users know from the 1.4.0 README, rewritten as tests."""

from __future__ import annotations

import threading

import anyio

from unsync import Unfuture, unsync


@unsync
async def report_once_all_began(label: str, began: list[str], of: int) -> str:
    began.append(label)  # only the ambient loop's thread touches the list
    with anyio.fail_after(10):  # fails unless the other calls begin meanwhile
        while len(began) < of:
            await anyio.sleep(0.001)
    return label


@unsync
def blocking_io(everyone: threading.Barrier) -> str:
    everyone.wait()  # breaks after its timeout unless every call runs at once
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


def test_two_coroutines_run_at_the_same_time() -> None:
    began: list[str] = []
    first, second = report_once_all_began("a", began, of=2), report_once_all_began("b", began, of=2)
    assert first.result(timeout=30) + second.result(timeout=30) == "ab"


def test_ten_blocking_calls_overlap_in_threads() -> None:
    everyone = threading.Barrier(10, timeout=10)
    calls = [blocking_io(everyone) for _ in range(10)]
    assert [call.result(timeout=30) for call in calls] == ["done"] * 10


def test_a_continuation_chain() -> None:
    assert step_one(3).then(step_two).result(timeout=30) == 8


def test_mixing_threads_continuations_and_coroutines() -> None:
    result = collect([pair(i).then(double_second) for i in range(10)]).result(timeout=30)
    assert result == {i: 2 * (i + 1) for i in range(10)}
