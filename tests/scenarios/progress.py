"""Following a fan-out with `as_completed` and `wait`."""

from __future__ import annotations

import asyncio
import io
import time

import anyio
import pytest
import trio
from tqdm import tqdm

from unsync import ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, Unfuture, as_completed, unsync, wait


@unsync
async def finish_after(seconds: float) -> float:
    await anyio.sleep(seconds)
    return seconds


@unsync
def fail_after(seconds: float) -> None:
    time.sleep(seconds)
    raise RuntimeError("failed")


def test_as_completed_yields_in_finishing_order() -> None:
    futures = [finish_after(d) for d in (0.15, 0.05, 0.1)]
    assert [f.result() for f in as_completed(futures)] == [0.05, 0.1, 0.15]


def test_as_completed_times_out() -> None:
    slow, fast = finish_after(5), finish_after(0)
    following = as_completed([slow, fast], timeout=0.2)
    assert next(following) is fast
    with pytest.raises(TimeoutError, match="1 of the futures"):
        next(following)
    slow.cancel()


def test_async_for_under_asyncio_and_trio_does_not_block_the_loop() -> None:
    async def collect() -> tuple[list[float], int]:
        ticks = 0
        results = []

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await anyio.sleep(0.01)
                ticks += 1

        async with anyio.create_task_group() as group:
            group.start_soon(ticker)
            async for future in as_completed([finish_after(d) for d in (0.1, 0.05)]):
                results.append(future.result())
            group.cancel_scope.cancel()
        return results, ticks

    for results, ticks in (asyncio.run(collect()), trio.run(collect)):
        assert results == [0.05, 0.1]
        assert ticks >= 3  # the loop kept running while it waited


def test_async_for_times_out() -> None:
    async def main() -> None:
        with pytest.raises(TimeoutError):
            async for _ in as_completed([finish_after(5)], timeout=0.05):
                pass

    asyncio.run(main())


def test_wait_mirrors_concurrent_futures_wait() -> None:
    fast, slow = finish_after(0.01), finish_after(5)
    done, not_done = wait([fast, slow], return_when=FIRST_COMPLETED)
    assert (done, not_done) == ({fast}, {slow})
    failing = fail_after(0.01)
    done, not_done = wait([failing, slow], return_when=FIRST_EXCEPTION)
    assert failing in done and slow in not_done
    done, not_done = wait([slow], timeout=0.05, return_when=ALL_COMPLETED)
    assert not done and not_done == {slow}
    slow.cancel()
    with pytest.raises(ValueError, match="return_when"):
        wait([Unfuture.from_value(1)], return_when="SOMETIMES")  # type: ignore[arg-type]


def test_as_completed_has_a_length_so_tqdm_draws_a_bar_by_itself() -> None:
    gates: list[Unfuture[int]] = [Unfuture() for _ in range(4)]
    following = as_completed([*gates, gates[0]])  # the same Unfuture twice counts once
    assert len(following) == 4
    gates[2].set_result(2)
    assert next(following) is gates[2]
    assert len(following) == 3
    for n, gate in enumerate(gates):
        if not gate.done():
            gate.set_result(n)
    output = io.StringIO()
    bar = tqdm(following, file=output, ascii=True)
    assert bar.total == 3
    assert sorted(f.result() for f in bar) == [0, 1, 3]
    assert len(following) == 0
    assert "3/3" in output.getvalue()


def test_wait_without_timeout_returns_when_all_are_done() -> None:
    futures = [finish_after(0.01), finish_after(0.02)]
    for return_when in (ALL_COMPLETED, FIRST_EXCEPTION):
        done, not_done = wait(futures, return_when=return_when)
        assert done == set(futures)
        assert not_done == set()
