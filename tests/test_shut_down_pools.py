"""Calls whose thread pool was shut down before they could run fail with the pool's error, wherever they waited."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from process_watching import wait_until
from unsync import Limiter, ThreadWorkers, Unfuture, unsync

SHUT_DOWN = "this thread pool has been shut down; it accepts no more work"


@pytest.fixture
def pool() -> Iterator[ThreadWorkers]:
    """unsync's thread executor for the test: a pool of its own, which the test shuts down."""
    default = unsync.thread_executor
    own = ThreadWorkers(max_workers=4)
    unsync.thread_executor = own
    yield own
    unsync.thread_executor = default
    own.shutdown(cancel_futures=True)


def test_calls_waiting_for_a_limit_fail_once_their_pool_is_shut_down(pool: ThreadWorkers) -> None:
    limiter, release = Limiter(1), threading.Event()

    @unsync(limit=limiter)
    def hold(n: int) -> int:
        release.wait(5)
        return n

    running = hold(0)
    waiting = [hold(n) for n in (1, 2, 3)]
    pool.shutdown(wait=False)
    later = hold(4)  # made after the shutdown: it fails too, rather than raise here
    release.set()
    assert running.result(timeout=5) == 0  # the pool had it already, and ran it
    for call in [*waiting, later]:
        with pytest.raises(RuntimeError, match=SHUT_DOWN):
            call.result(timeout=5)
    # A slot is given back by a done callback, which may run just after result() returns.
    wait_until(lambda: (limiter.running, limiter.waiting) == (0, 0), "a refused call kept its slot")


def test_a_continuation_whose_pool_was_shut_down_fails_with_the_pools_error(pool: ThreadWorkers) -> None:
    source: Unfuture[int] = Unfuture()
    chained = source.then(lambda done: done.result() + 1)
    pool.shutdown()
    source.set_result(1)
    with pytest.raises(RuntimeError, match=SHUT_DOWN):
        chained.result(timeout=5)


def test_a_blocking_stream_whose_pool_was_shut_down_raises_the_pools_error_at_next(pool: ThreadWorkers) -> None:
    ran: list[int] = []

    @unsync(read_ahead=0)
    def numbers() -> Iterator[int]:
        ran.append(1)
        yield 1

    stream = numbers()
    pool.shutdown()
    with pytest.raises(RuntimeError, match=SHUT_DOWN):
        next(stream)
    assert list(stream) == []
    assert ran == []
