"""cpu_bound work in worker processes: errors, dead workers, cancellation."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest

from scenarios.cpu_work import (
    describe,
    exit_abruptly,
    fail_in_worker,
    kill_own_worker,
    make_a_lock,
    spin_forever,
    sum_of_squares,
    worker_pid,
)
from unsync import WorkerProcessDied, unsync


def test_worker_processes_are_reused() -> None:
    first = worker_pid().result(timeout=30)
    assert worker_pid().result(timeout=30) == first


def test_an_exception_keeps_its_type_and_carries_the_worker_traceback() -> None:
    with pytest.raises(KeyError, match="missing") as caught:
        fail_in_worker("missing").result(timeout=30)
    notes = "".join(getattr(caught.value, "__notes__", []))
    assert "Traceback in the worker process" in notes
    assert "fail_in_worker" in notes


def test_a_dead_worker_fails_only_its_call_and_the_next_call_works() -> None:
    with pytest.raises(WorkerProcessDied, match=r"exit_abruptly\(\) died .* exit code 3"):
        exit_abruptly(3).result(timeout=30)
    assert sum_of_squares(4).result(timeout=30) == 14


def test_unpicklable_arguments_and_results_are_named() -> None:
    with pytest.raises(TypeError, match=r"argument 1 of describe\(\)"):
        describe(threading.Lock()).result(timeout=30)
    with pytest.raises(TypeError, match=r"result of make_a_lock\(\)"):
        make_a_lock().result(timeout=30)
    assert describe(3).result(timeout=30) == "int"


def test_functions_no_worker_can_import_are_refused_at_the_call() -> None:
    def nested(x: int) -> int:
        return x

    refused = unsync(cpu_bound=True)(nested)
    with pytest.raises(TypeError, match="inside another function"):
        refused(1)
    with pytest.raises(TypeError, match="lambda"):
        unsync(cpu_bound=True)(lambda: None)()


def test_cancelling_running_cpu_work_terminates_its_worker(tmp_path: Path) -> None:
    pid_file = tmp_path / "worker.pid"
    running = spin_forever(str(pid_file))
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the worker never started"
        time.sleep(0.01)
    pid = int(pid_file.read_text())
    assert running.cancel()
    with pytest.raises(concurrent.futures.CancelledError):
        running.result(timeout=10)
    while _process_exists(pid):
        assert time.monotonic() < deadline, "the worker was not terminated"
        time.sleep(0.01)
    assert sum_of_squares(3).result(timeout=30) == 5


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_process_pool_executor_can_run_cpu_work() -> None:
    default = unsync.process_executor
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        unsync.process_executor = pool
        try:
            pid = worker_pid().result(timeout=60)
        finally:
            unsync.process_executor = default
    assert pid != os.getpid()


def test_a_worker_killed_by_a_signal_reports_it() -> None:
    # -9 is SIGKILL; asyncio reports 255 when its child watcher lost the race to reap the worker.
    with pytest.raises(WorkerProcessDied, match=r"exit code (-9|255)"):
        kill_own_worker().result(timeout=30)
    assert sum_of_squares(2).result(timeout=30) == 1
