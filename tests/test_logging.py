"""The library logs through the "unsync" logger only, never prints."""

from __future__ import annotations

import asyncio
import gc
import pickle
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from unsync import Unfuture


def test_an_unretrieved_exception_is_logged_once_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    def failed() -> None:
        future: Unfuture[None] = Unfuture()
        try:
            raise KeyError("lost")
        except KeyError as exc:
            future.set_exception(exc)

    with caplog.at_level("ERROR", logger="unsync"):
        failed()
        gc.collect()
    records = [r for r in caplog.records if r.name == "unsync"]
    assert len(records) == 1
    assert "never retrieved" in records[0].getMessage()
    assert records[0].exc_info is not None and records[0].exc_info[0] is KeyError


def test_a_retrieved_exception_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("ERROR", logger="unsync"):
        future: Unfuture[None] = Unfuture()
        future.set_exception(KeyError("seen"))
        assert isinstance(future.exception(), KeyError)
        del future
        gc.collect()
    assert not [r for r in caplog.records if r.name == "unsync"]


def read_with_result(future: Unfuture[None]) -> None:
    with pytest.raises(KeyError):
        future.result()


def read_with_await(future: Unfuture[None]) -> None:
    async def main() -> None:
        with pytest.raises(KeyError):
            await future

    asyncio.run(main())


def read_through_then(future: Unfuture[None]) -> None:
    chained = future.then(lambda done: repr(done.exception()))
    assert chained.result(timeout=5) == "KeyError('seen')"


def read_by_pickling(future: Unfuture[None]) -> None:
    with pytest.raises(KeyError):
        pickle.loads(pickle.dumps(future)).result()


@pytest.mark.parametrize("read", [read_with_result, read_with_await, read_through_then, read_by_pickling])
def test_an_exception_read_in_any_way_is_not_logged(
    read: Callable[[Unfuture[None]], None], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("ERROR", logger="unsync"):
        future: Unfuture[None] = Unfuture()
        future.set_exception(KeyError("seen"))
        read(future)
        del future
        gc.collect()
    assert not [r for r in caplog.records if r.name == "unsync"]


def test_a_successful_unfuture_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("ERROR", logger="unsync"):
        Unfuture.from_value(1)
        gc.collect()
    assert not [r for r in caplog.records if r.name == "unsync"]


def abandon_an_awaiter(future: Unfuture[str]) -> asyncio.Task[str]:
    """A task awaiting ``future`` on a loop that was closed without it (it ran something else, then close())."""

    async def awaiter() -> str:
        return await future

    loop = asyncio.new_event_loop()
    task = loop.create_task(awaiter())
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()
    return task


def test_completing_an_unfuture_that_a_task_of_a_closed_loop_awaited_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    here: Unfuture[str] = Unfuture()
    elsewhere: Unfuture[str] = Unfuture()
    with caplog.at_level("ERROR", logger="unsync"):
        awaiters = [abandon_an_awaiter(here), abandon_an_awaiter(elsewhere)]
        here.set_result("set by the thread that ran the loop")
        setter = threading.Thread(target=elsewhere.set_result, args=("set by another thread",))
        setter.start()
        setter.join()
        assert here.result() == "set by the thread that ran the loop"
        assert elsewhere.result() == "set by another thread"
        del awaiters
        gc.collect()  # asyncio reports, on its own logger, tasks destroyed while pending
    assert not [r for r in caplog.records if r.name == "unsync"]


def test_the_library_never_prints() -> None:
    source = Path(__file__).parent.parent / "src" / "unsync"
    printing = [
        p.name for p in source.glob("*.py") if p.name != "__main__.py" and re.search(r"\bprint\(", p.read_text())
    ]
    assert printing == []
