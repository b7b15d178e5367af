"""`cancel()` tells the truth, whatever it races with.

Each test makes the race happen many times: a cancel() from one thread
against the work starting, finishing or being completed from others, and
checks that the answer agrees with the final state and with whether the
work's effects happened.  The GIL switch interval is lowered so that threads
interleave inside the window instead of around it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import operator
import random
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest

from unsync import Limiter, ThreadWorkers, Unfuture, unsync


@pytest.fixture(autouse=True)
def tight_thread_switching() -> Iterator[None]:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


class RandomCancels:
    """cancel() at a random moment (from at once to about half a millisecond later), counting the answers.

    The range spans both sides of the window, so that every test sees both
    answers: a test where one answer never came would prove nothing.  On a
    loaded machine the window moves (the loop's thread waits for a core), so
    `rounds` goes on, moving the range towards the missing answer, until
    both have come.
    """

    def __init__(self) -> None:
        self.answers = {True: 0, False: 0}
        self.spread = 20_000

    def rounds(self, least: int = 300, most: int = 3_000) -> Iterator[int]:
        """Round numbers: at least ``least``, then on until both answers came, but not past ``most``."""
        for n in range(most):
            if n >= least and self.saw_both_answers():
                return
            if n and n % least == 0 and not self.saw_both_answers():
                # Only True: the cancels came too early, so wait longer; only False: too late.
                self.spread = self.spread * 4 if self.answers[True] else max(1, self.spread // 4)
            yield n

    def cancel(self, future: Unfuture[Any]) -> bool:
        for _ in range(random.randrange(self.spread)):
            pass
        answer = future.cancel()
        self.answers[answer] += 1
        return answer

    def saw_both_answers(self) -> bool:
        return min(self.answers.values()) > 0

    def check(self, future: Unfuture[Any], expected: object, ran: Callable[[], bool]) -> None:
        """Cancel ``future`` at a random moment; the answer must agree with its outcome and with ``ran()``."""
        if self.cancel(future):
            with pytest.raises(concurrent.futures.CancelledError):
                future.result(timeout=30)
            assert not ran()
        else:
            assert future.result(timeout=30) == expected and ran()


def race_three_cancels_against_three_completions() -> None:
    future: Unfuture[int] = Unfuture()
    barrier = threading.Barrier(6)
    answers: list[bool] = []
    settled: list[int] = []

    def cancel() -> None:
        barrier.wait()
        answers.append(future.cancel())

    def complete(value: int) -> None:
        barrier.wait()
        try:
            future.set_result(value)
        except asyncio.InvalidStateError:
            return
        settled.append(value)

    run_together([cancel] * 3 + [functools.partial(complete, n) for n in range(3)])
    if future.cancelled():
        assert settled == [] and answers.count(True) == 3
    else:
        assert answers == [False] * 3 and settled == [future.result()]


def run_together(actions: list[Callable[[], object]]) -> None:
    threads = [threading.Thread(target=action) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_cancel_and_set_result_from_many_threads_agree_on_one_outcome() -> None:
    for _ in range(300):
        race_three_cancels_against_three_completions()


def work_for_a_moment(ran: threading.Event) -> str:
    # Long enough for some cancels to land while it runs.
    for _ in range(2_000):
        pass
    ran.set()
    return "done"


def test_cancel_of_a_thread_call_is_true_exactly_when_the_call_never_runs() -> None:
    pool = ThreadWorkers(max_workers=2)
    cancels = RandomCancels()
    for _ in cancels.rounds():
        ran = threading.Event()
        future: Unfuture[str] = Unfuture()
        pool.run(work_for_a_moment, (ran,), {}, future)
        cancels.check(future, "done", ran.is_set)
    pool.shutdown()
    assert cancels.saw_both_answers()


def test_cancel_of_a_coroutine_call_is_true_only_if_it_never_completes() -> None:
    completed: list[int] = []

    @unsync
    async def step(n: int) -> int:
        await anyio.sleep(0)
        completed.append(n)
        return n

    cancels = RandomCancels()
    for n in cancels.rounds():
        cancels.check(step(n), n, functools.partial(operator.contains, completed, n))
    assert cancels.saw_both_answers()


def test_a_cancelled_continuation_never_runs_and_an_uncancelled_one_always_does() -> None:
    ran: list[int] = []

    @unsync
    def source(n: int) -> int:
        return n

    def record(done: Unfuture[int]) -> int:
        ran.append(done.result())
        return done.result()

    cancels = RandomCancels()
    for n in cancels.rounds():
        cancels.check(source(n).then(record), n, functools.partial(operator.contains, ran, n))
    assert cancels.saw_both_answers()


def test_cancelling_a_limited_call_as_it_gets_its_slot_is_truthful() -> None:
    limiter = Limiter(1)
    ran: list[int] = []

    @unsync(limit=limiter)
    def limited(n: int) -> int:
        ran.append(n)
        return n

    cancels = RandomCancels()
    for n in cancels.rounds():
        blocker = limited(-1)
        cancels.check(limited(n), n, functools.partial(operator.contains, ran, n))
        blocker.result(timeout=30)
    assert limiter.running == 0
    assert cancels.saw_both_answers()


def race_callbacks_against_settling() -> None:
    future: Unfuture[int] = Unfuture()
    calls: list[Unfuture[int]] = []
    lock = threading.Lock()

    def record(done: Unfuture[int]) -> None:
        with lock:
            calls.append(done)

    def complete() -> None:
        with contextlib.suppress(asyncio.InvalidStateError):
            future.set_result(1)

    run_together([future.cancel, complete, lambda: future.add_done_callback(record)] * 2)
    assert calls == [future, future]


def test_callbacks_run_exactly_once_whoever_settles_first() -> None:
    for _ in range(200):
        race_callbacks_against_settling()
