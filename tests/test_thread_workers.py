"""`ThreadWorkers`, the default pool for sync functions, used as a plain executor."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import pytest

from unsync import ThreadWorkers


def test_sequential_calls_after_a_burst_run_on_one_warm_thread() -> None:
    pool = ThreadWorkers(max_workers=8)
    gate = threading.Barrier(8)
    burst = [pool.submit(gate.wait, 5) for _ in range(8)]  # eight calls that must overlap
    concurrent.futures.wait(burst, timeout=5)
    threads_after_burst = {pool.submit(threading.get_ident).result(timeout=5) for _ in range(20)}
    assert len(threads_after_burst) == 1
    pool.shutdown()


def test_at_most_max_workers_calls_run_at_once() -> None:
    pool = ThreadWorkers(max_workers=2)
    lock = threading.Lock()
    now = peak = 0

    def job() -> int:
        nonlocal now, peak
        with lock:
            now += 1
            peak = max(peak, now)
        time.sleep(0.02)
        with lock:
            now -= 1
        return threading.get_ident()

    threads = {call.result(timeout=5) for call in [pool.submit(job) for _ in range(8)]}
    assert peak == 2 and len(threads) == 2
    pool.shutdown()


def test_calls_waiting_for_a_worker_start_in_the_order_they_were_made() -> None:
    pool = ThreadWorkers(max_workers=1)
    release = threading.Event()
    order: list[int] = []
    first = pool.submit(release.wait, 5)
    calls = [pool.submit(order.append, n) for n in range(5)]
    release.set()
    concurrent.futures.wait([first, *calls], timeout=5)
    assert order == [0, 1, 2, 3, 4]
    pool.shutdown()


def test_shutdown_runs_the_calls_already_made_then_refuses_new_ones() -> None:
    pool = ThreadWorkers(max_workers=1)
    release = threading.Event()
    first = pool.submit(release.wait, 5)
    queued = pool.submit(lambda: "ran after shutdown began")
    threading.Timer(0.05, release.set).start()
    pool.shutdown(wait=True)
    assert first.result() is True
    assert queued.result() == "ran after shutdown began"
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(int)


def test_shutdown_with_cancel_futures_cancels_the_calls_still_waiting() -> None:
    pool = ThreadWorkers(max_workers=1)
    started, release = threading.Event(), threading.Event()

    def hold() -> str:
        started.set()
        release.wait(5)
        return "finished"

    running = pool.submit(hold)
    waiting = [pool.submit(int) for _ in range(3)]
    assert started.wait(5)
    pool.shutdown(wait=False, cancel_futures=True)
    release.set()
    assert running.result(timeout=5) == "finished"
    assert all(call.cancelled() for call in waiting)


def test_idle_workers_end_at_shutdown() -> None:
    pool = ThreadWorkers(max_workers=3, thread_name_prefix="short-lived")
    gate = threading.Barrier(3)
    concurrent.futures.wait([pool.submit(gate.wait, 5) for _ in range(3)], timeout=5)
    pool.shutdown(wait=True)
    assert not [t for t in threading.enumerate() if t.name.startswith("short-lived")]
