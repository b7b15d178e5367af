"""cpu_bound work in worker processes: errors, dead workers, cancellation."""

from __future__ import annotations

import concurrent.futures
import functools
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from process_watching import is_running, pid_written_to, wait_until
from scenarios.cpu_work import (
    ONE_AT_A_TIME,
    an_instance_of_a_class_only_the_worker_has,
    describe,
    exit_abruptly,
    exit_the_interpreter,
    fail_in_worker,
    fail_with_an_exception_that_cannot_be_rebuilt,
    kill_own_worker,
    make_a_lock,
    spin_forever,
    sum_of_squares,
    wait_for_file_one_at_a_time,
    worker_pid,
)
from scenarios.executor_work import touch, wait_for_file
from unsync import ProcessWorkers, WorkerProcessDied, unsync


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
    with pytest.raises(TypeError, match="it has no module and name to import it by"):
        unsync(cpu_bound=True)(functools.partial(pow, 2))(10)


def test_cancelling_running_cpu_work_terminates_its_worker(tmp_path: Path) -> None:
    pid_file = tmp_path / "worker.pid"
    running = spin_forever(str(pid_file))
    pid = pid_written_to(pid_file)
    assert running.cancel()
    with pytest.raises(concurrent.futures.CancelledError):
        running.result(timeout=10)
    wait_until(lambda: not is_running(pid), "the worker was not terminated")
    assert sum_of_squares(3).result(timeout=30) == 5


def test_a_process_pool_executor_can_run_cpu_work() -> None:
    default = unsync.process_executor
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        unsync.process_executor = pool
        try:
            pid = worker_pid().result(timeout=60)
        finally:
            unsync.process_executor = default
    assert pid != os.getpid()


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_a_worker_killed_by_a_signal_reports_it() -> None:
    with pytest.raises(WorkerProcessDied, match=r"exit code -9"):  # -9: SIGKILL
        kill_own_worker().result(timeout=30)
    assert sum_of_squares(2).result(timeout=30) == 1


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="tells a dead worker from a live one through /proc")
def test_a_worker_that_died_while_idle_fails_no_call() -> None:
    pid = worker_pid().result(timeout=30)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not is_running(pid), "the worker did not die")
    assert worker_pid().result(timeout=30) != pid


def test_an_exception_that_cannot_be_rebuilt_here_is_described() -> None:
    with pytest.raises(RuntimeError, match=r"raised NeedsTwoArguments: 7: out of cheese, which cannot be sent back"):
        fail_with_an_exception_that_cannot_be_rebuilt().result(timeout=30)


def test_system_exit_in_a_worker_is_the_callers_and_the_worker_stays() -> None:
    first = worker_pid().result(timeout=30)
    with pytest.raises(SystemExit) as caught:
        exit_the_interpreter().result(timeout=30)
    assert caught.value.code == 5
    assert worker_pid().result(timeout=30) == first


def test_a_result_that_cannot_be_unpickled_here_is_named_and_the_worker_goes_on() -> None:
    first = worker_pid().result(timeout=30)
    with pytest.raises(
        TypeError,
        match=r"what an_instance_of_a_class_only_the_worker_has\(\) returned came back from its worker process "
        r"but cannot be unpickled here: No module named 'made_in_the_worker'",
    ):
        an_instance_of_a_class_only_the_worker_has().result(timeout=30)
    assert worker_pid().result(timeout=30) == first


def test_a_limit_bounds_cpu_bound_calls_too(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    first = wait_for_file_one_at_a_time(str(gate))
    second = wait_for_file_one_at_a_time(str(gate))
    assert (ONE_AT_A_TIME.running, ONE_AT_A_TIME.waiting) == (1, 1)
    wait_until(lambda: Path(f"{gate}.started").exists(), "the first call never started")
    assert not second.running()
    gate.write_text("")
    assert [first.result(timeout=30), second.result(timeout=30)] == ["released"] * 2
    # The slot is given back by a done callback, which may run just after result() returns.
    wait_until(lambda: ONE_AT_A_TIME.running == 0, "the second call kept its slot")


@pytest.fixture
def pool() -> Iterator[ProcessWorkers]:
    """A process pool of one worker, unsync's process executor for the test."""
    default = unsync.process_executor
    own = ProcessWorkers(max_workers=1)
    unsync.process_executor = own
    yield own
    unsync.process_executor = default
    own.shutdown(cancel_futures=True)


def test_a_call_cancelled_before_the_loop_took_it_never_runs_and_the_pool_serves_the_next(
    pool: ProcessWorkers, tmp_path: Path
) -> None:
    holding, gate = threading.Event(), threading.Event()

    @unsync
    async def hold_the_loop() -> None:
        holding.set()
        gate.wait(5)  # blocks the loop on purpose: the next call stays queued for it

    held = hold_the_loop()
    assert holding.wait(5)
    never = pool.submit(touch, str(tmp_path / "never"))
    assert never.cancel()
    gate.set()
    held.result(timeout=5)
    assert pool.submit(touch, str(tmp_path / "later")).result(timeout=30) == "touched"
    assert never.cancelled() and not (tmp_path / "never").exists()


@unsync
async def nothing() -> None:
    pass


def test_a_call_cancelled_as_it_is_given_a_worker_gives_the_worker_back(pool: ProcessWorkers, tmp_path: Path) -> None:
    running = spin_forever(str(tmp_path / "spinning.pid"))
    pid_written_to(tmp_path / "spinning.pid")
    waiting = worker_pid()
    nothing().result(timeout=5)  # submitted after it: the waiting call's task waits in line by now

    @unsync
    async def free_a_slot_and_cancel() -> bool:
        # The task that hands out the new slot runs after this step, and hands it to
        # the waiting call, whose task then finds itself cancelled (on asyncio, always).
        pool.max_workers = 2
        return waiting.cancel()

    assert free_a_slot_and_cancel().result(timeout=5)
    with pytest.raises(concurrent.futures.CancelledError):
        waiting.result(timeout=10)
    # Its slot came back: a call runs beside the spinning one.
    assert worker_pid().result(timeout=30) != pid_written_to(tmp_path / "spinning.pid")
    assert running.cancel()


def test_a_submitted_call_cancelled_after_it_was_given_a_worker_never_runs(
    pool: ProcessWorkers, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    running = pool.submit(wait_for_file, str(gate))
    wait_until(lambda: Path(f"{gate}.started").exists(), "the first call never started")
    waiting = pool.submit(touch, str(tmp_path / "never"))
    nothing().result(timeout=5)

    @unsync
    async def free_a_slot_then_cancel_from_a_thread() -> None:
        pool.max_workers = 2
        await anyio.sleep(0)  # the new slot is handed out meanwhile; the waiting call wakes after this step
        # cancel() marks the future cancelled at once, then waits for this loop to cancel the call's
        # task: on asyncio the call's task runs first, and finds its future cancelled.
        threading.Thread(target=waiting.cancel).start()
        while not waiting.cancelled():
            time.sleep(0.001)

    free_a_slot_then_cancel_from_a_thread().result(timeout=5)
    assert waiting.cancelled()
    assert pool.submit(touch, str(tmp_path / "later")).result(timeout=30) == "touched"
    gate.write_text("")
    assert running.result(timeout=30) == "released"
    assert not (tmp_path / "never").exists()


def test_calls_joining_the_line_from_many_threads_while_the_loop_serves_it() -> None:
    # Callers' threads join the pool's line while the loop's thread walks it
    # to hand out slots; a walk unguarded against them raised "deque mutated
    # during iteration" into whichever call was looking for a slot.
    pool = ProcessWorkers(max_workers=2)
    failures: list[BaseException] = []

    def caller(first: int) -> None:
        for n in range(first, first + 40):
            try:
                assert pool.submit(sum_of_squares, n).result(timeout=30) == sum(i * i for i in range(n))
            except BaseException as exc:
                failures.append(exc)

    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns inside the walk, not only between walks
    try:
        threads = [threading.Thread(target=caller, args=(100 * t,)) for t in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switching)
        pool.shutdown()
    assert failures == []
