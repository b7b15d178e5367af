"""Nonsense passed to unsync gets a clear error at the call that passed it."""

from __future__ import annotations

import time

import pytest
import sniffio

from unsync import Unfuture, UnsyncStream, unsync


@pytest.mark.parametrize("timeout", [-1, -0.5, 0, 0.0])
def test_a_negative_or_zero_timeout_on_a_pending_unfuture_is_a_timeout_at_once(timeout: float) -> None:
    pending: Unfuture[int] = Unfuture()
    began = time.perf_counter()
    with pytest.raises(TimeoutError):
        pending.result(timeout=timeout)
    with pytest.raises(TimeoutError):
        pending.exception(timeout=timeout)
    assert time.perf_counter() - began < 1
    done = Unfuture.from_value(7)
    assert done.result(timeout=-1) == 7  # as in concurrent.futures: a done future does not wait
    assert done.exception(timeout=-1) is None


@pytest.mark.parametrize("timeout", ["1", [1], True, float("nan")])
def test_a_timeout_that_is_not_a_number_of_seconds_is_refused(timeout: object) -> None:
    pending: Unfuture[int] = Unfuture()
    for wait in (pending.result, pending.exception):
        with pytest.raises((TypeError, ValueError), match="timeout must be a number of seconds"):
            wait(timeout=timeout)  # type: ignore[arg-type]


def test_unsync_applied_twice_is_refused() -> None:
    @unsync
    async def once() -> int:
        return 1

    with pytest.raises(TypeError, match="already decorated with @unsync"):
        unsync(once)
    with pytest.raises(TypeError, match="already decorated with @unsync"):
        unsync(limit=2)(once)


def test_an_unfuture_of_something_unsupported_says_what_it_accepts() -> None:
    with pytest.raises(TypeError) as raised:
        Unfuture(5)  # type: ignore[call-overload]
    message = str(raised.value)
    assert "5" in message and "concurrent.futures.Future" in message and "awaitable" in message


def test_awaiting_an_unfuture_under_an_async_library_it_does_not_support_says_which_it_does() -> None:
    async def wait_for(future: Unfuture[None]) -> None:
        await future

    awaiting = wait_for(Unfuture())
    sniffio.thread_local.name = "curio"  # what such a library declares while it runs
    try:
        with pytest.raises(RuntimeError, match=r"awaited under asyncio \(uvloop included\) or trio, not under curio"):
            awaiting.send(None)
    finally:
        sniffio.thread_local.name = None


def test_an_unsync_stream_made_by_hand_without_a_feed_is_a_type_error_and_nothing_more() -> None:
    # The half-made stream is collected at once; an exception in its __del__ would be
    # "ignored" on stderr, which the suite's filterwarnings turns into a failure here.
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'feed'"):
        UnsyncStream()  # type: ignore[call-arg]
