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


def pool_threads(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix + "-")]


def test_threads_left_idle_end_and_the_pool_starts_new_ones_when_needed() -> None:
    pool = ThreadWorkers(max_workers=3, thread_name_prefix="retiring", idle_timeout=0.1)
    gate = threading.Barrier(3)
    concurrent.futures.wait([pool.submit(gate.wait, 5) for _ in range(3)], timeout=5)
    assert len(pool_threads("retiring")) == 3
    deadline = time.monotonic() + 5
    while pool_threads("retiring") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pool_threads("retiring") == []
    # A fresh thread, with a name no earlier thread of the pool had.
    assert pool.submit(lambda: threading.current_thread().name).result(timeout=5) == "retiring-3"
    pool.shutdown()


def test_a_thread_in_regular_use_is_kept() -> None:
    pool = ThreadWorkers(max_workers=2, idle_timeout=0.5)
    threads = set()
    for _ in range(16):  # 0.8 s in all, but never idle for 0.5 s
        threads.add(pool.submit(threading.get_ident).result(timeout=5))
        time.sleep(0.05)
    assert len(threads) == 1
    pool.shutdown()


def test_calls_made_as_a_worker_retires_are_never_lost() -> None:
    # Idle timeouts this short expire while calls are being handed over.
    pool = ThreadWorkers(max_workers=4, idle_timeout=0.0002)
    for n in range(300):
        calls = [pool.submit(pow, n, 2) for _ in range(n % 4 + 1)]
        assert [call.result(timeout=5) for call in calls] == [n * n] * len(calls)
        time.sleep(0.0002 * (n % 3))
    pool.shutdown()


@pytest.mark.parametrize("idle_timeout", [0, -1.0, float("inf")])
def test_an_idle_timeout_must_be_a_positive_number_of_seconds(idle_timeout: float) -> None:
    with pytest.raises(ValueError, match="idle_timeout must be a number of seconds above 0 and at most"):
        ThreadWorkers(idle_timeout=idle_timeout)


@pytest.mark.parametrize("max_workers", [0, -2])
def test_fewer_than_one_worker_is_refused_when_made_and_when_set(max_workers: int) -> None:
    with pytest.raises(ValueError, match=f"max_workers must be at least 1, not {max_workers}"):
        ThreadWorkers(max_workers=max_workers)
    pool = ThreadWorkers(max_workers=2)
    with pytest.raises(ValueError, match=f"max_workers must be at least 1, not {max_workers}"):
        pool.max_workers = max_workers
    assert pool.max_workers == 2
    pool.shutdown()


def test_a_call_may_shut_its_own_pool_down_and_wait_for_the_others() -> None:
    pool = ThreadWorkers(max_workers=2)
    started, release = threading.Event(), threading.Event()

    def hold() -> str:
        started.set()
        release.wait(5)
        return "finished"

    other = pool.submit(hold)
    assert started.wait(5)
    threading.Timer(0.1, release.set).start()
    # Joining every worker but itself: waiting for its own thread would never end.
    assert pool.submit(pool.shutdown, wait=True).result(timeout=5) is None
    assert other.done() and other.result() == "finished"
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(int)
