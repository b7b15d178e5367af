"""An Unfuture on its own, without any loop: mirroring, states, bad input and pickling."""

from __future__ import annotations

import concurrent.futures
import logging
import pickle
from collections.abc import Callable

import pytest

from unsync import Unfuture


def test_an_unfuture_mirrors_another_unfuture() -> None:
    source: Unfuture[int] = Unfuture()
    mirror = Unfuture(source)
    assert not mirror.done()
    source.set_result(7)
    assert mirror.result(timeout=1) == 7
    failed: Unfuture[int] = Unfuture()
    failed.set_exception(KeyError("gone"))
    with pytest.raises(KeyError, match="gone"):
        Unfuture(failed).result(timeout=1)


def test_a_mirror_of_a_cancelled_unfuture_is_cancelled() -> None:
    source: Unfuture[int] = Unfuture()
    mirror = Unfuture(source)
    assert source.cancel()
    assert mirror.cancelled()
    with pytest.raises(concurrent.futures.CancelledError, match="was cancelled"):
        mirror.result(timeout=1)


def test_cancelling_a_mirror_cancels_the_unfuture_it_mirrors() -> None:
    source: Unfuture[int] = Unfuture()
    mirror = Unfuture(source)
    assert mirror.cancel()
    assert source.cancelled()
    assert mirror.cancelled()


def test_an_unfuture_of_something_that_is_no_future_is_refused() -> None:
    with pytest.raises(TypeError, match=r"cannot make a future of int 42: it takes nothing"):
        Unfuture(42)


def test_states_as_they_change() -> None:
    future: Unfuture[str] = Unfuture()
    assert (future.running(), future.done(), future.cancelled()) == (False, False, False)
    future.set_result("x")
    assert (future.running(), future.done(), future.cancelled()) == (False, True, False)


def test_set_exception_takes_an_exception_class_too() -> None:
    future: Unfuture[None] = Unfuture()
    future.set_exception(ValueError)  # type: ignore[arg-type]
    assert isinstance(future.exception(timeout=1), ValueError)


def test_a_failing_done_callback_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    future: Unfuture[int] = Unfuture()
    seen: list[int] = []

    def broken(done: Unfuture[int]) -> None:
        raise RuntimeError("callback bug")

    future.add_done_callback(broken)
    future.add_done_callback(lambda done: seen.append(done.result()))
    with caplog.at_level(logging.ERROR, logger="unsync"):
        future.set_result(3)
    assert seen == [3]
    assert "exception calling callback" in caplog.text
    assert "callback bug" in caplog.text


def test_only_finished_unfutures_pickle() -> None:
    assert pickle.loads(pickle.dumps(Unfuture.from_value([1, 2]))).result() == [1, 2]
    with pytest.raises(TypeError, match="only a finished Unfuture can be pickled"):
        pickle.dumps(Unfuture())
    cancelled: Unfuture[int] = Unfuture()
    cancelled.cancel()
    with pytest.raises(TypeError, match="it was cancelled"):
        pickle.dumps(cancelled)


def test_exception_of_a_cancelled_unfuture_raises_cancelled_error() -> None:
    cancelled: Unfuture[int] = Unfuture()
    assert cancelled.cancel()
    with pytest.raises(concurrent.futures.CancelledError, match="was cancelled"):
        cancelled.exception(timeout=1)


class AddsWhileCompared:
    """A callback whose comparison, foreign code run by remove_done_callback, registers ``extra`` once."""

    def __init__(self, future: Unfuture[int], extra: Callable[[Unfuture[int]], None]) -> None:
        self.future = future
        self.extra: Callable[[Unfuture[int]], None] | None = extra

    def __call__(self, done: Unfuture[int]) -> None:
        pass

    def __eq__(self, other: object) -> bool:
        extra, self.extra = self.extra, None
        if extra is not None:
            self.future.add_done_callback(extra)
        return other is self

    __hash__ = object.__hash__


def test_remove_done_callback_also_removes_a_registration_made_while_it_compared() -> None:
    calls: list[str] = []

    def noted(_: Unfuture[int]) -> None:
        calls.append("noted")

    future: Unfuture[int] = Unfuture()
    future.add_done_callback(AddsWhileCompared(future, noted))
    future.add_done_callback(noted)
    assert future.remove_done_callback(noted) == 2
    future.set_result(1)
    assert calls == []


def test_remove_done_callback_finds_nothing_once_the_unfuture_settled_while_it_compared() -> None:
    calls: list[str] = []

    class SettlesWhileCompared:
        def __call__(self, done: Unfuture[int]) -> None:
            calls.append("ran")

        def __eq__(self, other: object) -> bool:
            if not future.done():
                future.set_result(1)
            return other is self

        __hash__ = object.__hash__

    future: Unfuture[int] = Unfuture()
    future.add_done_callback(SettlesWhileCompared())
    assert future.remove_done_callback(lambda done: None) == 0
    assert calls == ["ran"]  # a callback of an Unfuture that settled has run, and stays run
