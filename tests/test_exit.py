"""Interpreter exit as a program sees it: started work finishes, nothing is lost silently, nothing hangs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import RunPython

BACKENDS = ["asyncio", "trio"]

ABANDONED = (
    "{name} was still running {grace} s after interpreter exit began, and was abandoned "
    "(set unsync.exit_grace_period to wait longer)\n"
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_file_written_by_the_last_thread_call_is_complete(
    run_python: RunPython, tmp_path: Path, backend: str
) -> None:
    proc = run_python(
        f"""
        import time
        import unsync

        @unsync.unsync
        def write_report(path):
            with open(path, "w") as out:
                for line in range(50):
                    out.write(f"line {{line}}\\n")
                    out.flush()
                    time.sleep(0.01)
                out.write("end\\n")

        unsync.use_backend({backend!r})
        write_report("report.txt")  # the program ends while it writes
        """
    )
    assert (proc.stdout, proc.stderr) == ("", "")
    assert (tmp_path / "report.txt").read_text().splitlines()[-1] == "end"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_started_cpu_bound_call_completes(run_python: RunPython, tmp_path: Path, backend: str) -> None:
    proc = run_python(
        f"""
        import time
        import unsync

        @unsync.unsync(cpu_bound=True)
        def slow_write(path):
            time.sleep(0.5)
            with open(path, "w") as out:
                out.write("done")

        @unsync.unsync(cpu_bound=True)
        def started(path):
            open(path, "w").close()

        if __name__ == "__main__":
            unsync.use_backend({backend!r})
            started("ready").result()  # a warm worker, so the next call starts at once
            slow_write("result.txt")
            while not unsync.process_executor.running_calls():
                time.sleep(0.01)
        """
    )
    assert (proc.stdout, proc.stderr) == ("", "")
    assert (tmp_path / "result.txt").read_text() == "done"


def test_a_thread_call_that_never_ends_is_abandoned_after_the_grace_period_with_a_warning(
    run_python: RunPython,
) -> None:
    started = time.monotonic()
    proc = run_python(
        """
        import threading
        import unsync

        running = threading.Event()

        @unsync.unsync
        def spin():
            running.set()
            while True:
                pass

        unsync.exit_grace_period = 0.5
        spin()
        running.wait()
        """
    )
    assert time.monotonic() - started < 20
    assert (proc.stdout, proc.stderr) == ("", ABANDONED.format(name="spin()", grace=0.5))


def test_calls_that_never_started_are_cancelled_and_named(run_python: RunPython, tmp_path: Path) -> None:
    proc = run_python(
        """
        import threading
        import time
        import unsync

        unsync.thread_limit = 1
        running = threading.Event()

        @unsync.unsync
        def first():
            running.set()
            time.sleep(0.3)
            open("first.txt", "w").close()

        @unsync.unsync
        def queued_behind_it():
            open("queued.txt", "w").close()

        first()
        queued_behind_it()
        running.wait()
        """
    )
    assert proc.stderr == "queued_behind_it() was cancelled at interpreter exit: it had not started\n"
    assert (tmp_path / "first.txt").exists() and not (tmp_path / "queued.txt").exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_cpu_bound_call_waiting_for_a_worker_at_exit_is_cancelled_and_named(
    run_python: RunPython, tmp_path: Path, backend: str
) -> None:
    proc = run_python(
        f"""
        import os, time
        import unsync

        @unsync.unsync(cpu_bound=True)
        def first():
            open("first.started", "w").close()
            time.sleep(0.3)
            open("first.txt", "w").close()

        @unsync.unsync(cpu_bound=True)
        def queued_behind_it():
            open("queued.txt", "w").close()

        if __name__ == "__main__":
            unsync.use_backend({backend!r})
            unsync.process_limit = 1
            first()
            queued_behind_it()
            while not os.path.exists("first.started"):
                time.sleep(0.01)
        """
    )
    assert proc.stderr == "queued_behind_it() was cancelled at interpreter exit: it had not started\n"
    assert (tmp_path / "first.txt").exists() and not (tmp_path / "queued.txt").exists()


def test_no_call_is_accepted_once_the_interpreter_shuts_down(run_python: RunPython) -> None:
    proc = run_python(
        """
        import atexit
        import unsync

        pool = unsync.ThreadWorkers()

        @unsync.unsync
        def work():
            return 1

        @unsync.unsync
        async def work_on_the_loop():
            return 2

        @atexit.register
        def too_late():
            for attempt in (lambda: pool.submit(int), work, work_on_the_loop):
                try:
                    attempt()
                except RuntimeError as error:
                    print(error)
        """
    )
    assert proc.stdout == "cannot run new calls after interpreter shutdown\n" * 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_non_daemon_thread_blocked_on_a_coroutine_that_never_ends_does_not_keep_the_program_alive(
    run_python: RunPython, backend: str
) -> None:
    # Exit runs before Python joins non-daemon threads (the one use of
    # threading._register_atexit): after it, this program would hang.
    proc = run_python(
        f"""
        import concurrent.futures
        import threading
        import anyio
        import unsync

        @unsync.unsync
        async def forever():
            await anyio.sleep(3600)

        called = threading.Event()

        def wait_for_it():
            call = forever()
            called.set()
            try:
                call.result()
            except concurrent.futures.CancelledError:
                print("released")

        unsync.use_backend({backend!r})
        threading.Thread(target=wait_for_it).start()
        called.wait()
        """,
        timeout=20,
    )
    assert (proc.stdout, proc.stderr) == ("released\n", "")


@pytest.mark.parametrize("backend", BACKENDS)
def test_daemon_threads_blocked_on_ambient_work_end_quietly(run_python: RunPython, backend: str) -> None:
    proc = run_python(
        f"""
        import threading
        import time
        import anyio
        import unsync

        @unsync.unsync
        async def forever():
            await anyio.sleep(3600)

        unsync.use_backend({backend!r})
        submitted = threading.Semaphore(0)

        def wait_for_ever():
            call = forever()
            submitted.release()
            call.result()

        for _ in range(3):
            threading.Thread(target=wait_for_ever, daemon=True).start()
        for _ in range(3):  # a call made once exit has begun is refused, which is not what this tests
            submitted.acquire()
        time.sleep(0.1)
        print("done")
        """
    )
    assert (proc.stdout, proc.stderr) == ("done\n", "")


def test_the_grace_period_must_be_a_number_of_seconds_or_none() -> None:
    import unsync

    for wrong, error in [(-1, ValueError), (float("nan"), ValueError), ("5", TypeError), (True, TypeError)]:
        with pytest.raises(error, match="grace period"):
            unsync.exit_grace_period = wrong  # type: ignore[assignment]
    assert unsync.exit_grace_period == 5.0
