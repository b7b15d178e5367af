"""shutdown() under faults: bad arguments, and a shutdown interrupted part way.

Each test runs in a fresh interpreter: shutdown is process-wide.
"""

from __future__ import annotations

import pytest

from conftest import RunPython

BACKENDS = ["asyncio", "trio"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_shutdown_arguments_are_refused_before_anything_stops(run_python: RunPython, backend: str) -> None:
    proc = run_python(
        f"""
        import threading, anyio
        import unsync
        from unsync import unsync as decorator
        unsync.use_backend({backend!r})
        started = threading.Event()

        @decorator
        async def sleeper():
            started.set()
            await anyio.sleep(3600)

        job = sleeper()
        started.wait(5)
        for bad in (-1, float("nan"), "x", True, [5]):
            try:
                unsync.shutdown(grace_period=bad)
            except (TypeError, ValueError) as exc:
                print(type(exc).__name__, "grace period" in str(exc), job.running())
        try:
            unsync.shutdown(cancel="yes")
        except TypeError as exc:
            print("TypeError", "cancel" in str(exc), job.running())
        unsync.shutdown()
        print(job.cancelled())
        """
    )
    assert proc.stdout.splitlines() == [
        "ValueError True True",
        "ValueError True True",
        "TypeError True True",
        "TypeError True True",
        "TypeError True True",
        "TypeError True True",
        "True",
    ]


INTERRUPTED_SHUTDOWN = """
import os, signal, threading, time, anyio
import unsync
from unsync import unsync as decorator
unsync.use_backend({backend!r})
started = threading.Event()
cleanups = []

@decorator
async def sleeper():
    started.set()
    try:
        await anyio.sleep(3600)
    finally:
        cleanups.append("cleaned")

job = sleeper()
started.wait(5)
# Ctrl-C while shutdown(cancel=False) waits for a task that never ends.
threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
try:
    unsync.shutdown(cancel=False)
except KeyboardInterrupt:
    print("interrupted", job.running(), cleanups)
{after}
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_interrupted_shutdown_can_be_repeated_and_finishes_the_job(run_python: RunPython, backend: str) -> None:
    after = """
began = time.perf_counter()
unsync.shutdown()
print(job.cancelled(), cleanups, time.perf_counter() - began < 5)
loops = [t for t in threading.enumerate() if t.name == "unsync-ambient-loop"]
print(len(loops))
"""
    proc = run_python(INTERRUPTED_SHUTDOWN.format(backend=backend, after=after), timeout=30)
    assert proc.stdout.splitlines() == ["interrupted True []", "True ['cleaned'] True", "0"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_interpreter_exits_after_an_interrupted_shutdown(run_python: RunPython, backend: str) -> None:
    # Not repeated by the script: interpreter exit finishes the shutdown.
    proc = run_python(INTERRUPTED_SHUTDOWN.format(backend=backend, after='print("main done", flush=True)'), timeout=30)
    assert proc.stdout.splitlines() == ["interrupted True []", "main done"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_shutdowns_from_many_threads_at_once_all_return(run_python: RunPython, backend: str) -> None:
    proc = run_python(
        f"""
        import threading, anyio
        import unsync
        from unsync import unsync as decorator
        unsync.use_backend({backend!r})

        @decorator
        async def sleeper():
            await anyio.sleep(3600)

        for _ in range(20):
            jobs = [sleeper() for _ in range(5)]
            start = threading.Barrier(8)
            errors = []

            def stop():
                start.wait()
                try:
                    unsync.shutdown()
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=stop) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(20)
            assert not errors and not any(t.is_alive() for t in threads), errors
            assert all(job.cancelled() for job in jobs)
        print("ok", [t.name for t in threading.enumerate() if t.name == "unsync-ambient-loop"])
        """,
        timeout=120,
    )
    assert proc.stdout.strip() == "ok []"
