"""Random sequences of calls, cancels, completions, continuations, callbacks, awaits and results.

A hypothesis state machine makes Unfutures of every kind (completed by hand,
thread calls and coroutine calls held at a gate, continuations), and acts on
them from other threads in random order.  At the end every gate opens and
everything settles; then the invariants must hold for every Unfuture:
exactly one outcome, each callback called exactly once, every ``cancel()``
answer truthful, and every waiter (blocking or awaiting, under asyncio or
trio) saw that one outcome.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import trio
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from unsync import Unfuture, unsync

SETTLE_TIMEOUT = 30


@dataclass
class Tracked:
    """One Unfuture and what the test knows of it."""

    future: Unfuture[Any]
    kind: str  # "manual", "thread", "coroutine" or "then"
    gate: threading.Event = field(default_factory=threading.Event)
    ran: threading.Event = field(default_factory=threading.Event)
    cancel_answers: list[bool] = field(default_factory=list)
    set_by_hand: list[int] = field(default_factory=list)
    callback_calls: list[int] = field(default_factory=list)
    callbacks_added: int = 0
    seen_by_waiters: list[tuple[str, object]] = field(default_factory=list)
    source: Tracked | None = None


def outcome_of(future: Unfuture[Any]) -> tuple[str, object]:
    if future.cancelled():
        return ("cancelled", None)
    error = future.exception(timeout=0)
    return ("failed", type(error)) if error is not None else ("value", future.result(timeout=0))


def seen(call: Callable[[], object]) -> tuple[str, object]:
    try:
        return ("value", call())
    except (concurrent.futures.CancelledError, asyncio.CancelledError):
        return ("cancelled", None)
    except Exception as error:
        return ("failed", type(error))


@unsync
def thread_call(tracked: Tracked, value: int) -> int:
    tracked.gate.wait(SETTLE_TIMEOUT)
    tracked.ran.set()
    return value


@unsync
async def coroutine_call(tracked: Tracked, value: int) -> int:
    while not tracked.gate.is_set():
        await anyio.sleep(0.001)
    tracked.ran.set()
    return value


class UnfutureMachine(RuleBasedStateMachine):
    tracked = Bundle("tracked")

    def __init__(self) -> None:
        super().__init__()
        self.all: list[Tracked] = []
        self.helpers: list[threading.Thread] = []

    def in_another_thread(self, fn: Callable[[], object]) -> None:
        thread = threading.Thread(target=fn)
        thread.start()
        self.helpers.append(thread)

    def track(self, tracked: Tracked) -> Tracked:
        self.all.append(tracked)
        return tracked

    @initialize(target=tracked)
    def first(self) -> Tracked:
        return self.track(Tracked(Unfuture(), "manual"))

    @rule(target=tracked)
    def make_by_hand(self) -> Tracked:
        return self.track(Tracked(Unfuture(), "manual"))

    @rule(target=tracked, value=st.integers(0, 99))
    def call_in_a_thread(self, value: int) -> Tracked:
        tracked = Tracked(Unfuture(), "thread")
        tracked.future = thread_call(tracked, value)
        return self.track(tracked)

    @rule(target=tracked, value=st.integers(0, 99))
    def call_a_coroutine(self, value: int) -> Tracked:
        tracked = Tracked(Unfuture(), "coroutine")
        tracked.future = coroutine_call(tracked, value)
        return self.track(tracked)

    @rule(target=tracked, source=tracked)
    def chain(self, source: Tracked) -> Tracked:
        tracked = Tracked(Unfuture(), "then", source=source)

        def continuation(done: Unfuture[Any]) -> str:
            tracked.ran.set()
            return "continued"

        tracked.future = source.future.then(continuation)
        return self.track(tracked)

    @rule(target=tracked, source=tracked)
    def mirror(self, source: Tracked) -> Tracked:
        return self.track(Tracked(Unfuture(source.future), "mirror", source=source))

    @rule(tracked=tracked)
    def cancel(self, tracked: Tracked) -> None:
        self.in_another_thread(lambda: tracked.cancel_answers.append(tracked.future.cancel()))

    @rule(tracked=tracked, value=st.integers(100, 199))
    def set_result(self, tracked: Tracked, value: int) -> None:
        if tracked.kind != "manual":
            return

        def complete() -> None:
            try:
                tracked.future.set_result(value)
            except asyncio.InvalidStateError:
                return
            tracked.set_by_hand.append(value)

        self.in_another_thread(complete)

    @rule(tracked=tracked)
    def let_it_start(self, tracked: Tracked) -> None:
        # So that later rules also meet running work, not only work still queued.
        deadline = time.monotonic() + 1
        while tracked.future.running() is False and not tracked.future.done() and time.monotonic() < deadline:
            if tracked.kind in ("manual", "then", "mirror"):
                return
            time.sleep(0.0005)

    @rule(tracked=tracked)
    def open_gate(self, tracked: Tracked) -> None:
        tracked.gate.set()

    @rule(tracked=tracked)
    def add_callback(self, tracked: Tracked) -> None:
        tracked.callbacks_added += 1
        tracked.future.add_done_callback(lambda _: tracked.callback_calls.append(1))

    @rule(tracked=tracked, library=st.sampled_from(["asyncio", "trio"]))
    def await_it(self, tracked: Tracked, library: str) -> None:
        async def wait() -> object:
            return await tracked.future

        def run() -> None:
            if library == "asyncio":
                tracked.seen_by_waiters.append(seen(lambda: asyncio.run(wait())))
            else:
                tracked.seen_by_waiters.append(seen(lambda: trio.run(wait)))

        self.in_another_thread(run)

    @rule(tracked=tracked)
    def block_for_result(self, tracked: Tracked) -> None:
        self.in_another_thread(
            lambda: tracked.seen_by_waiters.append(seen(lambda: tracked.future.result(SETTLE_TIMEOUT)))
        )

    @invariant()
    def a_done_future_never_changes_its_mind(self) -> None:
        for tracked in self.all:
            if tracked.future.done():
                assert not tracked.future.running()

    def teardown(self) -> None:
        for tracked in self.all:
            tracked.gate.set()
            if tracked.kind == "manual" and not tracked.future.done():
                tracked.future.set_result(-1)
                tracked.set_by_hand.append(-1)
        for thread in self.helpers:
            thread.join(SETTLE_TIMEOUT)
        for tracked in self.all:
            self.check(tracked)

    def check(self, tracked: Tracked) -> None:
        future = tracked.future
        # Wait for the outcome: a coroutine whose cancel() said True ends, cancelled, a moment later on the loop.
        with contextlib.suppress(concurrent.futures.CancelledError):
            future.exception(SETTLE_TIMEOUT)
        assert future.done()
        outcome = outcome_of(future)
        assert all(waiter == outcome for waiter in tracked.seen_by_waiters), (tracked.kind, tracked.seen_by_waiters)
        # Like concurrent.futures, the settling thread wakes waiters first and runs callbacks after.
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while len(tracked.callback_calls) < tracked.callbacks_added and time.monotonic() < deadline:
            time.sleep(0.001)
        assert len(tracked.callback_calls) == tracked.callbacks_added
        if any(tracked.cancel_answers):
            # A True answer: the work never ran (or was stopped), and the future is cancelled.
            assert future.cancelled(), tracked.kind
            assert tracked.set_by_hand == []
            if tracked.kind in ("thread", "coroutine", "then"):
                assert not tracked.ran.is_set()
        if tracked.kind == "manual" and not future.cancelled():
            assert tracked.set_by_hand == [future.result()]
        if tracked.kind in ("thread", "coroutine", "then") and not future.cancelled():
            assert tracked.ran.is_set()


UnfutureMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_unfutures_under_random_operations_keep_their_invariants = UnfutureMachine.TestCase
