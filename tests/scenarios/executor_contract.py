"""The default pools used directly as `concurrent.futures.Executor`s, on the ambient loop of either backend."""

from __future__ import annotations

import concurrent.futures
import math
import time
from pathlib import Path

import pytest

from scenarios.cpu_work import spin_forever
from unsync import ProcessWorkers, ThreadWorkers


def test_process_workers_submit_returns_a_concurrent_future() -> None:
    with ProcessWorkers(max_workers=2) as pool:
        computed = pool.submit(math.factorial, 20)
        failed = pool.submit(math.sqrt, -1)
        assert isinstance(computed, concurrent.futures.Future)
        assert computed.result(timeout=30) == 2432902008176640000
        with pytest.raises(ValueError, match="math domain error"):
            failed.result(timeout=30)


def test_a_shut_down_process_pool_refuses_new_work() -> None:
    pool = ProcessWorkers(max_workers=1)
    pool.shutdown()
    with pytest.raises(RuntimeError, match="this process pool has been shut down"):
        pool.submit(math.factorial, 3)


def test_shutdown_with_cancel_futures_cancels_the_calls_still_waiting(tmp_path: Path) -> None:
    pool = ProcessWorkers(max_workers=1)
    pid_file = tmp_path / "pid"
    running = pool.submit(spin_forever.__wrapped__, str(pid_file))
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the worker never started"
        time.sleep(0.01)
    waiting = pool.submit(math.factorial, 5)
    pool.shutdown(wait=False, cancel_futures=True)
    assert waiting.cancelled()
    assert running.cancel() or running.cancelled() or running.running()
    running.cancel()


def test_a_thread_pool_needs_at_least_one_worker() -> None:
    with pytest.raises(ValueError, match="max_workers must be at least 1, not 0"):
        ThreadWorkers(max_workers=0)
