"""Nothing a call touched outlives its Unfuture once the caller has dropped it.

Checked with the cyclic garbage collector off: what only a collection would
free stays alive for an unbounded time in a program that allocates little.
"""

from __future__ import annotations

import contextlib
import gc
import time
import weakref
from collections.abc import Callable, Iterator

import anyio
import pytest

from unsync import Unfuture, unsync


class Big:
    """Stands for a large object (a weakref-able one)."""


@pytest.fixture(autouse=True)
def no_cycle_collection() -> Iterator[None]:
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def freed(ref: weakref.ref[Big], seconds: float = 2.0) -> bool:
    """Whether ``ref``'s object is freed within ``seconds`` (threads may let go of it just after settling)."""
    deadline = time.monotonic() + seconds
    while ref() is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    return ref() is None


def test_the_raising_frames_locals_die_with_the_unfuture_of_a_thread_call() -> None:
    refs: list[weakref.ref[Big]] = []

    @unsync
    def fails() -> None:
        big = Big()
        refs.append(weakref.ref(big))
        raise ValueError("boom")

    future = fails()
    with contextlib.suppress(ValueError):
        future.result(timeout=10)
    assert refs[0]() is not None  # kept for re-raising while the Unfuture lives
    del future
    assert freed(refs[0])


def test_the_raising_frames_locals_die_with_the_unfuture_of_a_coroutine_call() -> None:
    refs: list[weakref.ref[Big]] = []

    @unsync
    async def fails() -> None:
        big = Big()
        refs.append(weakref.ref(big))
        await anyio.sleep(0)
        raise ValueError("boom")

    @unsync
    async def awaits_it() -> str:
        try:
            await fails()
        except ValueError:
            return "caught"
        return "not raised"

    future = fails()
    with contextlib.suppress(ValueError):
        future.result(timeout=10)
    del future
    assert freed(refs[0])
    assert awaits_it().result(timeout=10) == "caught"
    assert freed(refs[1])


def test_a_finished_call_keeps_neither_its_arguments_nor_its_result() -> None:
    argument_refs: list[weakref.ref[Big]] = []
    result_refs: list[weakref.ref[Big]] = []

    @unsync
    async def echo_on_loop(argument: Big) -> Big:
        await anyio.sleep(0)
        return Big()

    @unsync
    def echo_in_thread(argument: Big) -> Big:
        return Big()

    for echo in (echo_on_loop, echo_in_thread):
        argument = Big()
        argument_refs.append(weakref.ref(argument))
        future: Unfuture[Big] = echo(argument)  # type: ignore[operator]
        result_refs.append(weakref.ref(future.result(timeout=10)))
        del argument, future
    assert all(freed(ref) for ref in argument_refs + result_refs)


def test_a_then_result_dies_with_its_unfuture() -> None:
    refs: list[weakref.ref[Big]] = []

    def make_big(_: Unfuture[int]) -> Big:
        big = Big()
        refs.append(weakref.ref(big))
        return big

    async def make_big_on_loop(_: Unfuture[int]) -> Big:
        return make_big(_)

    continuations: list[Callable[[Unfuture[int]], object]] = [make_big, make_big_on_loop]
    for continuation in continuations:
        chained = Unfuture.from_value(1).then(continuation)
        chained.result(timeout=10)
        del chained
    assert len(refs) == 2 and all(freed(ref) for ref in refs)
