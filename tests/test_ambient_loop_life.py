"""The ambient loop's life: backend choice, lazy start, shutdown, exit and fork.

Each test runs a script in a fresh interpreter, since all of this is
process-wide state.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import RunPython

BACKENDS = ["asyncio", "trio"]


def test_use_backend_from_the_module_and_from_the_decorator(run_python: RunPython) -> None:
    proc = run_python(
        """
        import sniffio, threading
        import unsync
        from unsync import unsync as decorator

        @decorator
        async def library():
            return sniffio.current_async_library()

        assert not any(t.name == "unsync-ambient-loop" for t in threading.enumerate()), "started too early"
        unsync.use_backend("trio")
        print(library().result())
        unsync.shutdown()
        decorator.use_backend("asyncio")
        print(library().result())
        """
    )
    assert proc.stdout.split() == ["trio", "asyncio"]


def test_backend_errors_say_what_to_do(run_python: RunPython) -> None:
    proc = run_python(
        """
        import unsync
        from unsync import unsync as decorator

        try:
            unsync.use_backend("curio")
        except ValueError as exc:
            print("ValueError:", exc)

        @decorator
        async def ping():
            return "pong"

        ping().result()
        unsync.use_backend("asyncio")  # the current choice again: fine
        try:
            unsync.use_backend("trio")
        except RuntimeError as exc:
            print("RuntimeError:", exc)
        print(ping().result())
        """
    )
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("ValueError:") and "'asyncio'" in lines[0] and "'trio'" in lines[0]
    assert lines[1].startswith("RuntimeError:") and "unsync.shutdown()" in lines[1]
    assert lines[2] == "pong"


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unknown_backend_option_fails_the_first_call_also_inside_an_event_loop(
    run_python: RunPython, backend: str
) -> None:
    proc = run_python(
        f"""
        import asyncio, threading, trio
        import unsync
        from unsync import unsync as decorator

        @decorator
        async def answer():
            return 42

        unsync.use_backend({backend!r}, no_such_option=True)

        def first_call():
            try:
                answer()
            except TypeError as exc:
                return "no_such_option" in str(exc)

        async def first_call_in_a_loop():
            return first_call()

        print(first_call(), asyncio.run(first_call_in_a_loop()), trio.run(first_call_in_a_loop))
        print(sum(t.name == "unsync-ambient-loop" for t in threading.enumerate()))
        unsync.use_backend({backend!r})
        print(answer().result(timeout=5))
        """
    )
    assert proc.stdout.splitlines() == ["True True True", "0", "42"]


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop does not run on Windows")
def test_uvloop_by_option_and_by_policy(run_python: RunPython) -> None:
    proc = run_python(
        """
        import asyncio
        import uvloop
        import unsync
        from unsync import unsync as decorator

        @decorator
        async def loop_type():
            return type(asyncio.get_running_loop()).__module__

        unsync.use_backend("asyncio", use_uvloop=True)
        print(loop_type().result())
        unsync.shutdown()
        unsync.use_backend("asyncio", loop_factory=asyncio.SelectorEventLoop)
        print(loop_type().result())
        unsync.shutdown()
        unsync.use_backend("asyncio")
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        print(loop_type().result())
        """
    )
    assert proc.stdout.split() == ["uvloop", "asyncio.unix_events", "uvloop"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_loop_starts_once_however_many_threads_race(run_python: RunPython, backend: str) -> None:
    proc = run_python(
        f"""
        import threading
        import unsync
        from unsync import unsync as decorator
        unsync.use_backend({backend!r})

        @decorator
        async def loop_thread():
            return threading.current_thread()

        start = threading.Barrier(16)
        seen = []

        def first_call():
            start.wait()
            seen.append(loop_thread().result())

        threads = [threading.Thread(target=first_call) for _ in range(16)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(len(seen), len(set(seen)), sum(t.name == "unsync-ambient-loop" for t in threading.enumerate()))
        """
    )
    assert proc.stdout.split() == ["16", "1", "1"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_shutdown_cancels_pending_tasks_and_a_fresh_loop_follows(run_python: RunPython, backend: str) -> None:
    proc = run_python(
        f"""
        import threading, anyio
        import unsync
        from unsync import unsync as decorator
        unsync.use_backend({backend!r})
        started = threading.Event()
        cleanups = []

        @decorator
        async def long_job():
            started.set()
            try:
                await anyio.sleep(3600)
            finally:
                cleanups.append("cleaned")

        @decorator
        async def short_job():
            await anyio.sleep(0.1)
            return threading.current_thread()

        job = long_job()
        started.wait(5)
        first_thread = unsync.unsync.thread
        unsync.shutdown()
        print(cleanups, job.cancelled())
        unsync.shutdown()  # nothing running: harmless
        second = short_job()
        print(second.result() is not first_thread)
        waited = short_job()
        unsync.shutdown(cancel=False)
        print(waited.done() and not waited.cancelled())
        """
    )
    assert proc.stdout.splitlines() == ["['cleaned'] True", "True", "True"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_calls_from_other_threads_while_shutdown_waits_for_running_tasks_are_never_left_pending(
    run_python: RunPython, backend: str
) -> None:
    # shutdown(cancel=False) waits for the task; the other thread calls until one of its calls
    # is cancelled (the rest ran), and only then lets the task end.
    proc = run_python(
        f"""
        import concurrent.futures, threading, anyio
        import unsync
        from unsync import unsync as decorator
        unsync.use_backend({backend!r})
        release = threading.Event()

        @decorator
        async def waits_for_release():
            while not release.is_set():
                await anyio.sleep(0.005)
            return "finished"

        @decorator
        async def quick():
            return "ran"

        outcomes = []

        def keep_calling():
            while "cancelled" not in outcomes:
                call = quick()
                try:
                    outcomes.append(call.result(timeout=5))
                except concurrent.futures.CancelledError:
                    outcomes.append("cancelled")
            release.set()

        job = waits_for_release()
        print(quick().result(timeout=5))
        caller = threading.Thread(target=keep_calling)
        caller.start()
        unsync.shutdown(cancel=False)
        caller.join(5)
        print(job.result(timeout=0), set(outcomes) <= {{"ran", "cancelled"}}, caller.is_alive())
        """
    )
    assert proc.stdout.splitlines() == ["ran", "finished True False"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_call_made_by_an_async_generators_cleanup_once_the_loop_has_stopped_is_cancelled(
    run_python: RunPython, backend: str
) -> None:
    # The loop closes the generator left suspended in a task as it ends, after its calls have
    # ended: a call made then must not start, nor stay pending.
    proc = run_python(
        f"""
        import unsync
        from unsync import unsync as decorator
        unsync.use_backend({backend!r})
        suspended = []

        @decorator
        async def note(text):
            return text

        async def numbers():
            try:
                yield 1
                yield 2
            finally:
                late = note("cleanup")
                print("the cleanup's call:", "cancelled" if late.cancelled() else late, flush=True)

        @decorator
        async def take_one():
            suspended.append(numbers())
            return await suspended[0].__anext__()

        print(take_one().result(timeout=5))
        unsync.shutdown()
        print("shut down", note("again").result(timeout=5))
        """
    )
    assert proc.stdout.splitlines() == ["1", "the cleanup's call: cancelled", "shut down again"]
    assert proc.stderr == ""


@pytest.mark.parametrize("backend", BACKENDS)
def test_shutdown_gives_up_on_a_loop_stuck_in_blocking_code_and_the_next_call_starts_a_fresh_one(
    run_python: RunPython, backend: str
) -> None:
    proc = run_python(
        f"""
        import threading, time
        import unsync
        from unsync import unsync as decorator
        unsync.use_backend({backend!r})
        release, stuck = threading.Event(), threading.Event()

        @decorator
        async def blocks_the_loop():
            stuck.set()
            release.wait(30)  # blocking code in a coroutine: the loop can run nothing else meanwhile

        @decorator
        async def loop_thread():
            return threading.current_thread()

        first = loop_thread().result(timeout=5)
        blocking = blocks_the_loop()
        stuck.wait(5)
        began = time.monotonic()
        unsync.shutdown(grace_period=0)  # waits a second more than the grace period, then gives up
        took = time.monotonic() - began
        second = loop_thread().result(timeout=5)
        print(took < 10, second is not first, blocking.done())
        release.set()
        """,
        timeout=60,
    )
    assert proc.stdout.split() == ["True", "True", "False"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_calls_made_by_tasks_while_the_loop_stops_end_with_it(run_python: RunPython, backend: str) -> None:
    # A task that keeps making calls while shutdown() runs: every call it made
    # must end (none may be left running forever), none may start a second
    # loop, and shutdown must not wait out its grace period.
    proc = run_python(
        f"""
        import threading, time, anyio
        import unsync
        from unsync import unsync as decorator
        unsync.use_backend({backend!r})

        @decorator
        async def child():
            await anyio.sleep(3600)

        children, started = [], threading.Event()

        @decorator
        async def keeps_calling():
            started.set()
            while True:
                children.append(child())
                await anyio.sleep(0)

        caller = keeps_calling()
        started.wait(5)
        time.sleep(0.05)
        began = time.perf_counter()
        unsync.shutdown(grace_period=30)
        took = time.perf_counter() - began
        loops = [t for t in threading.enumerate() if t.name == "unsync-ambient-loop"]
        print(caller.cancelled(), all(c.cancelled() for c in children), len(loops), took < 10)
        """,
        timeout=60,
    )
    assert proc.stdout.split() == ["True", "True", "0", "True"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_interpreter_exit_with_sleeping_tasks_is_prompt(run_python: RunPython, backend: str) -> None:
    started = time.perf_counter()
    proc = run_python(
        f"""
        import anyio, threading
        import unsync
        from unsync import unsync as decorator
        unsync.use_backend({backend!r})
        started = threading.Event()

        @decorator
        async def sleeper():
            started.set()
            try:
                await anyio.sleep(3600)
            finally:
                print("cleanup ran", flush=True)

        sleeper()
        started.wait(5)
        print("main done", flush=True)
        """,
        timeout=20,
    )
    assert proc.stdout.splitlines() == ["main done", "cleanup ran"]
    assert time.perf_counter() - started < 10


def test_a_script_that_never_uses_unsync_exits_at_once(run_python: RunPython) -> None:
    proc = run_python("import threading, unsync; print(threading.active_count())")
    assert proc.stdout.strip() == "1"


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_forked_child_gets_a_fresh_ambient_loop(run_python: RunPython, backend: str) -> None:
    proc = run_python(
        f"""
        import os, threading, warnings
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running
        import unsync
        from unsync import unsync as decorator
        unsync.use_backend({backend!r})

        @decorator
        async def loop_thread_id():
            return threading.get_ident()

        @decorator
        def worker_thread_id():
            return threading.get_ident()

        parent_loop = loop_thread_id().result()
        worker_thread_id().result()
        pid = os.fork()
        if pid == 0:
            ok = loop_thread_id().result(timeout=10) != parent_loop and worker_thread_id().result(timeout=10)
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), loop_thread_id().result() == parent_loop)
        """
    )
    assert proc.stdout.split() == ["0", "True"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_child_forked_by_a_task_on_the_loop_uses_unsync_like_a_fresh_program(
    run_python: RunPython, backend: str
) -> None:
    # The child's only thread is the one that ran the parent's loop: there it
    # is an ordinary thread, which may start its own loop and block on calls.
    proc = run_python(
        f"""
        import os, warnings
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running
        import unsync
        from unsync import unsync as decorator
        unsync.use_backend({backend!r})

        @decorator
        async def double(x):
            return 2 * x

        @decorator
        async def fork_here():
            pid = os.fork()
            if pid == 0:
                os._exit(0 if double(21).result(timeout=10) == 42 else 1)
            return pid

        _, status = os.waitpid(fork_here().result(), 0)
        print(os.waitstatus_to_exitcode(status), double(1).result())
        """
    )
    assert proc.stdout.split() == ["0", "2"]


def test_global_thread_and_process_limits_apply_at_run_time(run_python: RunPython) -> None:
    proc = run_python(
        """
        import threading, time
        from unsync import unsync

        lock, now, peak = threading.Lock(), [0], [0]

        @unsync
        def busy():
            with lock:
                now[0] += 1
                peak[0] = max(peak[0], now[0])
            time.sleep(0.05)
            with lock:
                now[0] -= 1

        def peak_of(calls):
            peak[0] = 0
            for f in [busy() for _ in range(calls)]:
                f.result()
            return peak[0]

        unsync.thread_limit = 2
        print(unsync.thread_limit, peak_of(6))
        unsync.thread_limit = 5
        print(peak_of(10))
        unsync.thread_limit = 1
        peak_of(10)  # surplus workers retire as they finish
        print(peak_of(4))
        unsync.process_limit = 1
        print(unsync.process_limit)
        """
    )
    assert proc.stdout.split() == ["2", "2", "5", "1", "1"]


def test_settings_are_the_same_through_the_module_and_the_decorator(run_python: RunPython) -> None:
    proc = run_python(
        """
        import concurrent.futures
        import unsync
        from unsync import unsync as decorator

        unsync.process_limit = 3
        decorator.thread_limit = 7
        print(decorator.process_limit, unsync.thread_limit)
        try:
            unsync.process_limit = 0
        except ValueError:
            print("refused", unsync.process_limit)
        pool = concurrent.futures.ThreadPoolExecutor(2)
        unsync.thread_executor = pool
        print(decorator.thread_executor is pool)
        """
    )
    assert proc.stdout.split() == ["3", "7", "refused", "3", "True"]


def test_cpu_bound_functions_from_an_interactive_session_are_refused_clearly() -> None:
    code = (
        "from unsync import unsync\n"
        "@unsync(cpu_bound=True)\n"
        "def typed_in(x):\n"
        "    return x\n"
        "try:\n"
        "    typed_in(1)\n"
        "except TypeError as exc:\n"
        "    print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert "typed_in cannot run in another process" in proc.stdout
    assert "interactive session" in proc.stdout


def test_worker_trouble_prints_nothing_the_user_did_not_print(run_python: RunPython) -> None:
    proc = run_python(
        """
        import os, time
        from unsync import unsync

        @unsync(cpu_bound=True)
        def crash():
            os._exit(7)

        @unsync(cpu_bound=True)
        def spin():
            while True:
                pass

        @unsync(cpu_bound=True)
        def fail():
            raise ValueError("handled by the caller")

        if __name__ == "__main__":
            for call in (crash, fail):
                try:
                    call().result(timeout=30)
                except Exception:
                    pass
            running = spin()
            time.sleep(0.3)
            running.cancel()
            print("done")
        """
    )
    assert proc.stdout.strip() == "done"
    assert proc.stderr == ""


def test_asyncio_debug_mode_blames_the_call_whose_first_step_blocks(run_python: RunPython) -> None:
    proc = run_python(
        """
        import asyncio
        import time
        import unsync
        from unsync import unsync as decorator

        @decorator
        async def blocks_before_its_first_await():
            time.sleep(0.2)
            await asyncio.sleep(0)

        unsync.loop.set_debug(True)
        blocks_before_its_first_await().result()
        """
    )
    slow = [line for line in proc.stderr.splitlines() if line.startswith("Executing")]
    assert len(slow) == 1 and slow[0].startswith("Executing <Task"), proc.stderr


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts file descriptors in /proc")
@pytest.mark.parametrize("backend", [*BACKENDS, "uvloop"])
def test_restarting_the_loop_leaks_no_thread_and_no_file_descriptor(run_python: RunPython, backend: str) -> None:
    options = "'asyncio', use_uvloop=True" if backend == "uvloop" else repr(backend)
    proc = run_python(
        f"""
        import gc, os, threading
        import unsync
        from unsync import unsync as decorator
        unsync.use_backend({options})

        @decorator
        async def answer():
            return 42

        def census():
            gc.collect()
            return len(os.listdir("/proc/self/fd")), threading.active_count()

        answer().result(timeout=5)  # first use: imports and lazily made objects
        unsync.shutdown()
        before = census()
        for _ in range(20):
            assert answer().result(timeout=5) == 42
            unsync.shutdown()
        print(before)
        print(census())
        """
    )
    before, after = proc.stdout.splitlines()
    assert before == after


@pytest.mark.skipif(sys.platform == "win32", reason="sets RLIMIT_NOFILE")
@pytest.mark.parametrize("backend", BACKENDS)
def test_out_of_file_descriptors_the_first_call_raises_oserror_and_a_later_one_starts_the_loop(
    run_python: RunPython, backend: str
) -> None:
    # Starting the loop takes a few descriptors; with one more allowed at each attempt, every
    # step of the start fails once, until one attempt has all it needs.
    proc = run_python(
        f"""
        import errno, gc, os, resource, threading
        import unsync
        from unsync import unsync as decorator
        unsync.use_backend({backend!r})

        @decorator
        async def answer():
            return 42

        answer().result(timeout=5)  # first use: imports and lazily made objects
        unsync.shutdown()

        def lowest_free_descriptor():
            fd = os.dup(0)
            os.close(fd)
            return fd

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        free = lowest_free_descriptor()
        failures = []
        for allowed in range(free, free + 30):
            resource.setrlimit(resource.RLIMIT_NOFILE, (allowed, hard))
            try:
                outcome = answer().result(timeout=5)
            except BaseException as exc:
                outcome = f"{{type(exc).__name__}}: {{errno.errorcode.get(getattr(exc, 'errno', None))}}"
            finally:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            if outcome == 42:
                break
            failures.append(outcome)
            assert not any(t.name == "unsync-ambient-loop" for t in threading.enumerate()), "a loop thread is left"
            gc.collect()  # what the failed start left: so each attempt starts from the same free descriptors
            assert lowest_free_descriptor() == free, "a failed start kept a descriptor"
        print(outcome, len(failures) >= 4, set(failures))
        """
    )
    assert proc.stdout.splitlines() == ["42 True {'OSError: EMFILE'}"]


# Appended to a script that has imported unsync as `decorator`: calls one
# coroutine 100 times from each of four threads at once, then prints whether
# every result came back.
BURST_FROM_FOUR_THREADS = """
import threading

@decorator
async def double(n):
    return 2 * n

results = []
def burst():
    results.extend(f.result(timeout=5) for f in [double(n) for n in range(100)])

threads = [threading.Thread(target=burst) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(sorted(results) == sorted(2 * n for n in range(100) for _ in threads))
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_without_eventfd_as_on_macos_and_windows_the_loop_is_woken_another_way(
    run_python: RunPython, backend: str
) -> None:
    setup = f"""
import os
if hasattr(os, "eventfd"):
    del os.eventfd  # what Python offers on systems other than Linux
import unsync
from unsync import unsync as decorator
unsync.use_backend({backend!r})
"""
    restart = """
unsync.shutdown()
print(double(21).result(timeout=5))
"""
    proc = run_python(setup + BURST_FROM_FOUR_THREADS + restart)
    assert proc.stdout.split() == ["True", "42"]


def test_a_loop_that_cannot_watch_file_descriptors_is_woken_another_way(run_python: RunPython) -> None:
    setup = """
import asyncio
import unsync
from unsync import unsync as decorator

class WatchesNoFileDescriptors(asyncio.SelectorEventLoop):
    def add_reader(self, *args):
        raise NotImplementedError("this loop cannot watch file descriptors")

unsync.use_backend("asyncio", loop_factory=WatchesNoFileDescriptors)
"""
    proc = run_python(setup + BURST_FROM_FOUR_THREADS + "print(type(unsync.loop).__name__)\n")
    assert proc.stdout.split() == ["True", "WatchesNoFileDescriptors"]
