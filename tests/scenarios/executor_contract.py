"""`ThreadWorkers` and `ProcessWorkers` keep `concurrent.futures.Executor`'s contract to the letter.

Each test states one clause, the way CPython's own tests of
`ThreadPoolExecutor` and `ProcessPoolExecutor` do, and runs against both
pools (the process pool runs through the ambient loop, so on both backends).
"""

from __future__ import annotations

import concurrent.futures
import gc
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from process_watching import wait_until
from scenarios.executor_work import (
    Payload,
    append_line,
    fail_with_payload,
    make_payload,
    measure,
    slow_square,
    touch,
    wait_for_file,
)
from unsync import ProcessWorkers, ThreadWorkers

Pool = ThreadWorkers | ProcessWorkers


@pytest.fixture(params=["threads", "processes"])
def pool(request: pytest.FixtureRequest) -> Iterator[Pool]:
    made: Pool = ThreadWorkers(max_workers=1) if request.param == "threads" else ProcessWorkers(max_workers=1)
    yield made
    made.shutdown(wait=True, cancel_futures=True)


class Gate:
    """A call that runs until the test opens the gate, through files, so it works in any process."""

    def __init__(self, folder: Path) -> None:
        self.path = str(folder / "gate")

    def submit_to(self, pool: Pool) -> concurrent.futures.Future[str]:
        return pool.submit(wait_for_file, self.path)

    def wait_until_running(self) -> None:
        wait_until(lambda: Path(self.path + ".started").exists(), "the gated call never started")

    def open(self) -> None:
        Path(self.path).write_text("")


def eventually(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + 10
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return condition()


def test_a_future_is_running_exactly_while_its_call_runs(pool: Pool, tmp_path: Path) -> None:
    gate = Gate(tmp_path)
    running = gate.submit_to(pool)
    waiting = pool.submit(touch, str(tmp_path / "after"))
    gate.wait_until_running()
    assert eventually(running.running)
    assert not waiting.running() and not waiting.done()
    gate.open()
    assert running.result(timeout=10) == "released"
    assert not running.running() and running.done()
    assert waiting.result(timeout=10) == "touched"


def test_cancel_refuses_running_work_and_its_result_arrives(pool: Pool, tmp_path: Path) -> None:
    gate = Gate(tmp_path)
    running = gate.submit_to(pool)
    gate.wait_until_running()
    assert eventually(running.running)
    assert running.cancel() is False
    assert not running.cancelled()
    gate.open()
    assert running.result(timeout=10) == "released"


def test_cancel_of_waiting_work_succeeds_and_it_never_runs(pool: Pool, tmp_path: Path) -> None:
    gate = Gate(tmp_path)
    running = gate.submit_to(pool)
    waiting = pool.submit(touch, str(tmp_path / "never"))
    gate.wait_until_running()
    assert waiting.cancel() is True
    assert waiting.cancelled() and waiting.done()
    with pytest.raises(concurrent.futures.CancelledError):
        waiting.result(timeout=0)
    gate.open()
    assert running.result(timeout=10) == "released"
    pool.shutdown(wait=True)
    assert not (tmp_path / "never").exists()


def test_waiting_calls_start_in_the_order_they_were_made(pool: Pool, tmp_path: Path) -> None:
    # Under trio the tasks of one batch run in random order: the order must not depend on it.
    gate = Gate(tmp_path)
    running = gate.submit_to(pool)
    log = str(tmp_path / "order")
    calls = [pool.submit(append_line, log, str(n)) for n in range(8)]
    gate.wait_until_running()
    gate.open()
    concurrent.futures.wait([running, *calls], timeout=20)
    assert Path(log).read_text().split() == [str(n) for n in range(8)]


def test_after_shutdown_submit_raises_runtime_error(pool: Pool) -> None:
    pool.shutdown(wait=True)
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(measure, Payload())


def test_shutdown_with_cancel_futures_cancels_what_waits(pool: Pool, tmp_path: Path) -> None:
    gate = Gate(tmp_path)
    running = gate.submit_to(pool)
    waiting = [pool.submit(touch, str(tmp_path / f"never-{n}")) for n in range(3)]
    gate.wait_until_running()
    pool.shutdown(wait=False, cancel_futures=True)
    assert all(future.cancelled() for future in waiting)
    gate.open()
    assert running.result(timeout=10) == "released"
    assert not list(tmp_path.glob("never-*"))


def test_shutdown_with_wait_returns_once_what_runs_has_ended(pool: Pool, tmp_path: Path) -> None:
    gate = Gate(tmp_path)
    running = gate.submit_to(pool)
    gate.wait_until_running()
    opener = concurrent.futures.ThreadPoolExecutor(1)
    opener.submit(lambda: (time.sleep(0.2), gate.open()))
    pool.shutdown(wait=True)
    assert running.done() and running.result() == "released"
    opener.shutdown()


def test_a_with_block_shuts_the_pool_down_and_waits(pool: Pool) -> None:
    with pool as same:
        assert same is pool
        futures = [pool.submit(slow_square, n) for n in range(3)]
    assert all(future.done() for future in futures)
    with pytest.raises(RuntimeError):
        pool.submit(slow_square, 1)


def test_map_gives_results_in_order_and_honours_its_timeout(pool: Pool) -> None:
    assert list(pool.map(slow_square, range(4))) == [0, 1, 4, 9]
    results = pool.map(slow_square, range(20), timeout=0.2)
    with pytest.raises(TimeoutError):
        list(results)


def test_map_keeps_no_reference_to_results_it_has_yielded(pool: Pool) -> None:
    results = pool.map(make_payload, range(3))
    first = next(results)
    yielded = weakref.ref(first)
    del first
    gc.collect()
    assert yielded() is None
    assert [measure(p) for p in results] == [2, 3]


def test_no_worker_keeps_a_call_result_argument_or_exception_alive(pool: Pool) -> None:
    argument = Payload()
    argument_ref = weakref.ref(argument)
    assert pool.submit(measure, argument).result(timeout=10) == 1000
    result = pool.submit(make_payload, 9).result(timeout=10)
    result_ref = weakref.ref(result)
    failed = pool.submit(fail_with_payload)
    error = failed.exception(timeout=10)
    assert error is not None
    error_ref = weakref.ref(error)
    del argument, result, failed, error
    time.sleep(0.05)  # the worker has parked by now
    gc.collect()
    assert (argument_ref(), result_ref(), error_ref()) == (None, None, None)


def test_a_failure_read_through_the_executors_future_is_not_logged_as_unread(
    pool: Pool, caplog: pytest.LogCaptureFixture
) -> None:
    failed = pool.submit(fail_with_payload)
    assert failed.exception(timeout=20) is not None
    del failed
    gc.collect()
    assert not [record for record in caplog.records if record.name == "unsync"]
