"""An Unfuture on its own, without any loop: mirroring, states, bad input and pickling."""

from __future__ import annotations

import concurrent.futures
import logging
import pickle

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
