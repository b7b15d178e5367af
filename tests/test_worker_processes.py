"""The default process pool as a program sees it: output, the script's own
functions and classes, and workers that end with the program."""

from __future__ import annotations

import contextlib
import os
import py_compile
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import RunPython
from process_watching import is_running, pid_written_to, wait_until

BACKENDS = ["asyncio", "trio"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_what_a_worker_prints_reaches_the_programs_output(run_python: RunPython, backend: str) -> None:
    proc = run_python(
        f"""
        import sys
        import unsync
        from unsync import unsync as decorator

        @decorator(cpu_bound=True)
        def shout(n):
            print("working on", n)
            print("a warning", file=sys.stderr)
            return n * 2

        if __name__ == "__main__":
            unsync.use_backend({backend!r})
            print("result", shout(21).result(timeout=30))
        """
    )
    assert proc.stdout.splitlines() == ["working on 21", "result 42"]
    assert proc.stderr == "a warning\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_functions_and_classes_of_the_script_itself_work_in_workers(run_python: RunPython, backend: str) -> None:
    proc = run_python(
        f"""
        import dataclasses, os
        import unsync
        from unsync import unsync as decorator

        print("top level of the script runs in", "the program" if __name__ == "__main__" else "a worker")

        @dataclasses.dataclass
        class Point:
            x: int
            y: int

        @decorator(cpu_bound=True)
        def mirror(point):
            return Point(point.y, point.x), os.getpid()

        if __name__ == "__main__":
            unsync.use_backend({backend!r})
            point, pid = mirror(Point(1, 2)).result(timeout=30)
            print(point, isinstance(point, Point), pid != os.getpid())
        """
    )
    assert proc.stdout.splitlines() == [
        "top level of the script runs in the program",
        "top level of the script runs in a worker",
        "Point(x=2, y=1) True True",
    ]


# A program with a busy worker and an idle one, ready once both run.
BUSY_AND_IDLE_WORKERS = """
import os, time
import unsync
from unsync import unsync as decorator

@decorator(cpu_bound=True)
def spin(path):
    with open(path, "w") as out:
        out.write(str(os.getpid()))
    while True:
        pass

@decorator(cpu_bound=True)
def nothing():
    pass

if __name__ == "__main__":
    unsync.use_backend({backend!r})
    unsync.process_limit = 2
    unsync.exit_grace_period = 0.2
    running = spin("worker.pid")
    nothing().result()
    while not os.path.exists("worker.pid") or not open("worker.pid").read():
        time.sleep(0.01)
    print("ready", flush=True)
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_workers_end_with_the_program(run_python: RunPython, tmp_path: Path, backend: str) -> None:
    started = time.monotonic()
    proc = run_python(BUSY_AND_IDLE_WORKERS.format(backend=backend))
    assert time.monotonic() - started < 20
    # Exit waits for the call that runs, then abandons it, saying so.
    assert (proc.stdout, proc.stderr) == (
        "ready\n",
        "spin() was still running 0.2 s after interpreter exit began, and was abandoned "
        "(set unsync.exit_grace_period to wait longer)\n",
    )
    worker = pid_written_to(tmp_path / "worker.pid")
    wait_until(lambda: not is_running(worker), "the busy worker outlived the program")


@pytest.mark.skipif(os.name != "posix", reason="process groups and SIGINT")
@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_interrupts_the_program_once_and_stops_its_workers(tmp_path: Path, backend: str) -> None:
    script = tmp_path / "script.py"
    script.write_text(BUSY_AND_IDLE_WORKERS.format(backend=backend) + "    running.result()\n")
    # A session of its own, so the SIGINT reaches the program and its workers as Ctrl-C would.
    # A runner started in the background by a shell ignores SIGINT, and so would the program
    # (ignored signals are inherited): while it starts, this process handles SIGINT instead.
    handling = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        program = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    finally:
        signal.signal(signal.SIGINT, handling)
    try:
        assert program.stdout is not None
        assert program.stdout.readline() == "ready\n"
        os.killpg(program.pid, signal.SIGINT)
        _, stderr = program.communicate(timeout=20)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(program.pid, signal.SIGKILL)  # whatever a failed test leaves running
    assert program.returncode == -signal.SIGINT
    assert stderr.count("KeyboardInterrupt") == 1  # the program's; none from the busy or the idle worker
    worker = pid_written_to(tmp_path / "worker.pid")
    wait_until(lambda: not is_running(worker), "the busy worker outlived the program")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_forked_child_has_its_own_workers_and_does_not_delay_the_parents_exit(
    run_python: RunPython, tmp_path: Path, backend: str
) -> None:
    # The child inherits the pipes to the parent's idle workers, so they never
    # see their input end while it lives; the parent must not wait for that.
    started = time.monotonic()
    proc = run_python(
        f"""
        import os, time
        import unsync
        from unsync import unsync as decorator

        @decorator(cpu_bound=True)
        def worker_pid():
            return os.getpid()

        if __name__ == "__main__":
            unsync.use_backend({backend!r})
            parents_worker = worker_pid().result()
            parent = os.getpid()
            if os.fork() == 0:
                quiet = os.open(os.devnull, os.O_WRONLY)
                os.dup2(quiet, 1)
                os.dup2(quiet, 2)
                with open("child.txt", "w") as out:
                    out.write(str(worker_pid().result(timeout=30) != parents_worker))
                while os.getppid() == parent:
                    time.sleep(0.05)
                os._exit(0)
            print("parent done")
        """
    )
    assert proc.stdout == "parent done\n"
    # About a second of it here: idle workers get that long to exit before they are killed.
    # Waiting for them instead would last as long as the child, which outlives the parent:
    # run_python's timeout.  The rest is interpreter start-ups, slow under coverage.py.
    assert time.monotonic() - started < 15
    child_says = tmp_path / "child.txt"
    wait_until(lambda: child_says.exists() and child_says.read_text() != "", "the forked child never answered")
    assert child_says.read_text() == "True"


def test_a_script_that_fails_in_the_worker_says_so_on_each_call(run_python: RunPython) -> None:
    proc = run_python(
        """
        from unsync import unsync

        if __name__ != "__main__":
            raise RuntimeError("this script refuses to be imported")

        @unsync(cpu_bound=True)
        def double(n):
            return 2 * n

        def main():
            for _ in range(2):
                try:
                    double(1).result(timeout=30)
                except RuntimeError as exc:
                    print(exc, "|", "while the worker ran" in "".join(exc.__notes__))

        if __name__ == "__main__":
            main()
        """
    )
    assert proc.stdout.splitlines() == ["this script refuses to be imported | True"] * 2


def test_the_process_limit_bounds_the_workers_at_run_time(run_python: RunPython) -> None:
    proc = run_python(
        """
        import os, time
        from unsync import unsync

        @unsync(cpu_bound=True)
        def pid_after_a_nap():
            time.sleep(0.1)
            return os.getpid()

        def workers_used(calls):
            return len({f.result(timeout=30) for f in [pid_after_a_nap() for _ in range(calls)]})

        if __name__ == "__main__":
            unsync.process_limit = 1
            print(workers_used(3))
            unsync.process_limit = 3
            print(workers_used(6))
            unsync.process_limit = 1
            workers_used(3)  # the surplus workers retire as they finish
            print(workers_used(3))
        """
    )
    assert proc.stdout.split() == ["1", "3", "1"]


@pytest.mark.skipif(os.name != "posix", reason="signals; a worker notices its parent's death through poll()")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_busy_worker_ends_soon_after_its_parent_is_killed(tmp_path: Path, backend: str, how: signal.Signals) -> None:
    pid_file = tmp_path / "worker.pid"
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import unsync
            from unsync import unsync as decorator

            @decorator(cpu_bound=True)
            def spin(pid_file):
                with open(pid_file, "w") as out:
                    out.write(str(__import__("os").getpid()))
                while True:
                    pass

            if __name__ == "__main__":
                unsync.use_backend({backend!r})
                spin({str(pid_file)!r}).result()
            """
        )
    )
    parent = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path)
    try:
        worker = pid_written_to(pid_file)
        parent.send_signal(how)
        parent.wait(timeout=10)
        # Left to itself a busy worker spins for ever.  It ends within a second
        # where nothing slows it; the bound is generous because under coverage
        # its os._exit() first saves the measurements, which takes seconds.
        wait_until(lambda: not is_running(worker), "the worker outlived its parent", timeout=20)
    finally:
        parent.kill()
        parent.wait()
        if pid_file.exists() and pid_file.read_text().isdigit():  # a worker that outlived the test
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="pins the worker to one core")
def test_a_worker_stopped_right_after_its_answer_runs_its_exit_handlers(run_python: RunPython) -> None:
    # The worker's watch for a dead parent must not take a stop that follows
    # an answer for a parent's death in the middle of a call, and end the
    # worker with os._exit(), skipping its exit handlers.  The window is the
    # worker's own steps after its answer: a thread that hashes without the
    # GIL on the worker's only core makes it wide (before the fix, most of
    # these stops skipped the handlers).
    proc = run_python(
        """
        import atexit, hashlib, os, threading, time
        import unsync

        def compete_for_the_core(until):
            data = bytes(8 * 2**20)
            while time.monotonic() < until:
                hashlib.sha256(data).digest()

        @unsync.unsync(cpu_bound=True)
        def prepare(path):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
            threading.Thread(target=compete_for_the_core, args=(time.monotonic() + 0.3,), daemon=True).start()
            atexit.register(lambda: open(path, "w").close())

        if __name__ == "__main__":
            skipped = 0
            for n in range(10):
                path = f"exited.{n}"
                prepare(os.path.abspath(path)).result(timeout=30)
                unsync.shutdown()  # ends the worker's input, and waits for it to exit
                skipped += not os.path.exists(path)
            print("handlers skipped", skipped)
        """,
        timeout=120,
    )
    assert proc.stdout == "handlers skipped 0\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_workers_leave_no_unclosed_file_or_other_warning_in_development_mode(tmp_path: Path, backend: str) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import unsync
            from unsync import unsync as decorator

            @decorator(cpu_bound=True)
            def double(n):
                return 2 * n

            if __name__ == "__main__":
                unsync.use_backend({backend!r})
                unsync.process_limit = 2
                print(sum(call.result(timeout=30) for call in [double(n) for n in range(4)]))
                print(double(bytes(4 * 1024 * 1024)).result(timeout=30) == bytes(8 * 1024 * 1024))
            """
        )
    )
    environment = {**os.environ, "PYTHONDEVMODE": "1", "PYTHONWARNINGS": "error"}
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=environment
    )
    # Development mode also has asyncio report every loop step slower than
    # 0.1 s of wall time, which on a loaded machine any step may be: those
    # reports measure the machine, not a warning (the benchmarks measure stalls).
    stderr = re.sub(r"(?m)^Executing <.*> took \d+\.\d+ seconds\n", "", proc.stderr)
    assert (proc.returncode, proc.stdout, stderr) == (0, "12\nTrue\n", "")


def test_a_call_from_code_outside_the_main_guard_fails_once_and_shows_the_fix(run_python: RunPython) -> None:
    proc = run_python(
        """
        from unsync import unsync

        print("the script starts")

        @unsync(cpu_bound=True)
        def double(n):
            return 2 * n

        print(double(21).result(timeout=30))
        """,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout == "the script starts\n"  # no worker ran the script
    assert proc.stderr.count("Traceback") == 1
    assert "RuntimeError: double() runs in a worker process, but it was called from the top level" in proc.stderr
    assert 'if __name__ == "__main__":\n        main()' in proc.stderr
    assert "__mp_main__" not in proc.stderr


def test_code_under_the_guard_may_call_from_the_top_level_of_the_script(run_python: RunPython) -> None:
    proc = run_python(
        """
        from unsync import unsync

        @unsync(cpu_bound=True)
        def double(n):
            return 2 * n

        if __name__ == "__main__":
            print(double(21).result(timeout=30))
        """
    )
    assert proc.stdout == "42\n"


def test_a_script_read_from_standard_input_is_refused_like_an_interactive_session(tmp_path: Path) -> None:
    source = textwrap.dedent(
        """
        from unsync import unsync

        @unsync(cpu_bound=True)
        def double(n):
            return 2 * n

        if __name__ == "__main__":
            double(21).result(timeout=30)
        """
    )
    proc = subprocess.run([sys.executable, "-"], input=source, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1
    assert "TypeError: double cannot run in another process: it was defined in an interactive session" in proc.stderr
    assert "read from standard input" in proc.stderr
    assert "AttributeError" not in proc.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="large buffers travel in memory files on Linux")
def test_a_large_argument_is_not_copied_in_the_parent(run_python: RunPython) -> None:
    proc = run_python(
        """
        import resource
        from unsync import unsync

        @unsync(cpu_bound=True)
        def size(data):
            return len(data)

        if __name__ == "__main__":
            size(b"").result(timeout=30)
            data = bytes(200 * 1024 * 1024)
            mutable = bytearray(data)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            print(size(data).result(timeout=60), size(mutable).result(timeout=60))
            grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
            print("peak grew by less than a copy:", grown * 1024 < len(data) // 2)
        """,
        timeout=120,
    )
    assert proc.stdout.splitlines() == [
        f"{200 * 1024 * 1024} {200 * 1024 * 1024}",
        "peak grew by less than a copy: True",
    ]


# Workers print to standard error when the program has no standard output to share.
WITHOUT_STANDARD_OUTPUT = """
import os, sys
import unsync
from unsync import unsync as decorator

@decorator(cpu_bound=True)
def shout(n):
    print("working on", n, flush=True)
    return n * 2

@decorator
async def nothing():
    pass

if __name__ == "__main__":
    unsync.use_backend({backend!r})
    if sys.stdout is not None:
        nothing().result(timeout=30)  # the loop's own descriptors are open before ours closes
        sys.stdout.flush()
        os.close(1)
        sys.stdout = None
    print("result", shout(21).result(timeout=30), file=sys.stderr)
"""


@pytest.mark.skipif(os.name != "posix", reason="a closed descriptor 1, through sh")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("closed", ["from the start", "while it runs"])
def test_a_program_without_standard_output_still_runs_cpu_bound_calls(
    tmp_path: Path, backend: str, closed: str
) -> None:
    script = tmp_path / "script.py"
    script.write_text(WITHOUT_STANDARD_OUTPUT.format(backend=backend))
    # Started with descriptor 1 closed, the interpreter has sys.stdout None, and the
    # descriptors it opens later take that number: none of them is an output to share.
    command = ["/bin/sh", "-c", 'exec "$0" "$1" >&-'] if closed == "from the start" else []
    proc = subprocess.run(
        [*command, sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "working on 21\nresult 42\n")


def test_a_program_run_with_python_c_can_call_the_cpu_bound_functions_of_its_modules(tmp_path: Path) -> None:
    (tmp_path / "work.py").write_text(
        textwrap.dedent(
            """
            from unsync import unsync

            @unsync(cpu_bound=True)
            def double(n):
                return 2 * n
            """
        )
    )
    # No script for a worker to run: it imports the module by name.
    program = "import work; print(work.double(21).result(timeout=30))"
    proc = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "42\n", "")


def test_a_script_run_from_its_compiled_file_can_call_its_own_cpu_bound_functions(tmp_path: Path) -> None:
    source = tmp_path / "script.py"
    source.write_text(
        textwrap.dedent(
            """
            from unsync import unsync

            @unsync(cpu_bound=True)
            def double(n):
                return 2 * n

            if __name__ == "__main__":
                print(double(21).result(timeout=30))
            """
        )
    )
    compiled = tmp_path / "script.pyc"
    py_compile.compile(str(source), cfile=str(compiled), doraise=True)
    source.unlink()  # shipped without its source: no guard can be read from it, and none is demanded
    proc = subprocess.run([sys.executable, str(compiled)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "42\n", "")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors through /proc")
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_worker_that_cannot_be_started_fails_the_call_and_leaves_no_descriptor_open(
    run_python: RunPython, backend: str
) -> None:
    # As in an embedding application whose sys.executable is not a Python interpreter.
    proc = run_python(
        f"""
        import os, sys
        import unsync
        from unsync import unsync as decorator

        @decorator(cpu_bound=True)
        def double(n):
            return 2 * n

        @decorator
        async def nothing():
            pass

        if __name__ == "__main__":
            unsync.use_backend({backend!r})
            nothing().result(timeout=30)
            interpreter, sys.executable = sys.executable, os.path.abspath("no-such-python")
            before = sorted(os.listdir("/proc/self/fd"))
            try:
                double(21).result(timeout=30)
            except FileNotFoundError as exc:
                print("FileNotFoundError", os.path.basename(exc.filename))
            print("descriptors left open:", sorted(set(os.listdir("/proc/self/fd")) - set(before)))
            sys.executable = interpreter
            print(double(21).result(timeout=30))
        """
    )
    assert proc.stdout.splitlines() == ["FileNotFoundError no-such-python", "descriptors left open: []", "42"]


@pytest.mark.skipif(sys.platform != "linux", reason="large buffers travel in memory files on Linux")
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_large_argument_no_memory_file_can_hold_fails_the_call_with_the_systems_error(
    run_python: RunPython, backend: str
) -> None:
    proc = run_python(
        f"""
        import os, resource, signal
        import unsync
        from unsync import unsync as decorator

        @decorator(cpu_bound=True)
        def size(data):
            return len(data)

        def memory_files():
            found = []
            for fd in os.listdir("/proc/self/fd"):
                try:
                    if os.readlink(f"/proc/self/fd/{{fd}}").startswith("/memfd:"):
                        found.append(fd)
                except FileNotFoundError:
                    pass
            return found

        if __name__ == "__main__":
            unsync.use_backend({backend!r})
            large, small = bytes(4 * 1024 * 1024), bytes(512 * 1024)
            print(size(large).result(timeout=30))  # its memory file is kept, spare, for the next calls
            # A file size limit (ulimit -f) holds for memory files too; ignoring SIGXFSZ,
            # a write past it fails instead of killing the program.
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

            def under_the_limit(data):
                resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, hard))
                try:
                    size(data).result(timeout=30)
                except OSError as exc:
                    print(type(exc).__name__, exc.strerror)  # not blamed on the argument, which pickles
                finally:
                    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

            under_the_limit(large)  # written into the spare file, past the limit
            under_the_limit(large)  # a new file, which cannot be made that large
            print("memory files open:", memory_files())
            size(small).result(timeout=30)
            under_the_limit(large)  # the small spare file, which cannot grow that large
            print("memory files open:", memory_files())
            print(size(large).result(timeout=30))
        """
    )
    assert proc.stdout.splitlines() == [
        str(4 * 1024 * 1024),
        *["OSError File too large"] * 2,
        "memory files open: []",
        "OSError File too large",
        "memory files open: []",
        str(4 * 1024 * 1024),
    ]


# 4 MB of text pickles into the call itself: far more than a pipe holds, so the
# parent is still sending it when the worker dies.
@pytest.mark.parametrize("length", [1, 4_000_000])
def test_a_worker_that_dies_as_it_loads_the_script_fails_the_call_with_its_exit_code(
    run_python: RunPython, length: int
) -> None:
    proc = run_python(
        f"""
        import os
        from unsync import WorkerProcessDied, unsync

        if __name__ == "__mp_main__":
            os._exit(3)  # as a crash of an extension module the script imports would

        @unsync(cpu_bound=True)
        def size(text):
            return len(text)

        if __name__ == "__main__":
            try:
                size("x" * {length}).result(timeout=30)
            except WorkerProcessDied as exc:
                print(exc)
        """
    )
    assert proc.stdout.startswith("the worker process running size() died before it answered, with exit code 3 ")


@pytest.mark.parametrize("backend", BACKENDS)
def test_cancelling_a_call_still_being_sent_ends_its_worker_and_the_next_call_works(
    run_python: RunPython, backend: str
) -> None:
    proc = run_python(
        f"""
        import concurrent.futures, os, time
        import unsync
        from unsync import unsync as decorator

        if __name__ == "__mp_main__" and os.path.exists("stall"):
            with open("stalled.pid", "w") as out:
                out.write(str(os.getpid()))
            time.sleep(60)  # reads no further: the parent is left sending the call

        @decorator(cpu_bound=True)
        def size(text):
            return len(text)

        if __name__ == "__main__":
            unsync.use_backend({backend!r})
            open("stall", "w").close()
            call = size("x" * 4_000_000)  # far more than a pipe holds
            while not os.path.exists("stalled.pid") or not open("stalled.pid").read():
                time.sleep(0.01)
            stalled = int(open("stalled.pid").read())
            print(call.cancel())
            try:
                call.result(timeout=30)
            except concurrent.futures.CancelledError:
                print("cancelled")
            try:
                os.kill(stalled, 0)
            except ProcessLookupError:
                print("its worker is gone")
            os.remove("stall")
            print(size("x" * 10).result(timeout=30))
        """
    )
    assert proc.stdout.splitlines() == ["True", "cancelled", "its worker is gone", "10"]


# Runs first in each worker (the program puts it on the workers' PYTHONPATH): once
# its parent has begun to send the set-up, it kills the parent and waits for its end.
KILL_THE_PARENT_AT_START_UP = """
import os, select, signal, time

parent = os.getppid()
with open("worker.pid", "w") as out:
    out.write(str(os.getpid()))
select.select([0], [], [], 30)
os.kill(parent, signal.SIGKILL)
while os.getppid() == parent:
    time.sleep(0.01)
"""


@pytest.mark.skipif(os.name != "posix", reason="signals")
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_worker_whose_parent_dies_while_sending_the_set_up_ends_without_running_anything(
    run_python: RunPython, tmp_path: Path, backend: str
) -> None:
    (tmp_path / "start-up").mkdir()
    (tmp_path / "start-up" / "sitecustomize.py").write_text(KILL_THE_PARENT_AT_START_UP)
    proc = run_python(
        f"""
        import os, sys
        import unsync
        from unsync import unsync as decorator

        @decorator(cpu_bound=True)
        def touch():
            open("ran", "w").close()

        if __name__ == "__main__":
            unsync.use_backend({backend!r})
            # The set-up carries sys.path: this entry makes it more than a pipe holds.
            sys.path.append("x" * 4_000_000)
            os.environ["PYTHONPATH"] = os.path.abspath("start-up")
            touch().result(timeout=30)
        """,
        check=False,
    )
    # run_python returns once the worker, which shares the program's output pipes, has ended too.
    assert (proc.returncode, proc.stdout, proc.stderr) == (-signal.SIGKILL, "", "")
    wait_until(lambda: not is_running(pid_written_to(tmp_path / "worker.pid")), "the worker outlived its parent")
    assert not (tmp_path / "ran").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's tunables are read on Linux")
def test_workers_give_their_code_and_children_the_parents_environment(run_python: RunPython) -> None:
    proc = run_python(
        """
        import os, subprocess, sys
        import unsync
        from unsync import unsync as decorator

        @decorator(cpu_bound=True)
        def tunables_seen():
            child = subprocess.run(
                [sys.executable, "-c", "import os; print(os.environ.get('GLIBC_TUNABLES'))"],
                capture_output=True, text=True, check=True,
            )
            return os.environ.get("GLIBC_TUNABLES"), child.stdout.strip()

        if __name__ == "__main__":
            print(*tunables_seen().result(timeout=30))
            unsync.shutdown()
            os.environ["GLIBC_TUNABLES"] = "glibc.malloc.check=0"
            print(*tunables_seen().result(timeout=30))
        """
    )
    assert proc.stdout.splitlines() == ["None None", "glibc.malloc.check=0 glibc.malloc.check=0"]


def transparent_huge_pages() -> str:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as setting:
            return setting.read().split("[")[1].split("]")[0]
    except (OSError, IndexError):
        return "never"


@pytest.mark.skipif(
    sys.platform != "linux" or transparent_huge_pages() == "never", reason="the kernel gives no huge pages"
)
def test_a_worker_fills_a_large_object_in_huge_pages(run_python: RunPython) -> None:
    # What a large argument is copied into in a worker: new memory, which the
    # kernel provides several times as fast in 2 MiB pages as in 4 KiB ones.
    proc = run_python(
        """
        from unsync import unsync

        @unsync(cpu_bound=True)
        def huge_pages_under_a_new_object():
            data = bytearray(64 * 1024 * 1024)
            with open("/proc/self/smaps_rollup") as rollup:
                fields = dict(line.split(":", 1) for line in rollup if ":" in line)
            del data
            return int(fields["AnonHugePages"].split()[0]) * 1024

        if __name__ == "__main__":
            print(huge_pages_under_a_new_object().result(timeout=30) >= 32 * 1024 * 1024)
        """
    )
    assert proc.stdout.split() == ["True"]


@pytest.mark.skipif(sys.platform != "linux", reason="large results travel in memory files on Linux")
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_large_result_that_finds_no_free_descriptor_fails_its_call_alone(run_python: RunPython, backend: str) -> None:
    proc = run_python(
        f"""
        import errno, os, resource
        import unsync
        from unsync import unsync as decorator

        @decorator(cpu_bound=True)
        def large_result():
            return bytearray(4 * 1024 * 1024)

        @decorator(cpu_bound=True)
        def pid():
            return os.getpid()

        if __name__ == "__main__":
            unsync.use_backend({backend!r})
            unsync.process_limit = 1
            worker = pid().result(timeout=30)
            fd = os.dup(0)
            os.close(fd)
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (fd, hard))  # no descriptor left to open
            try:
                large_result().result(timeout=30)
            except OSError as exc:
                print(type(exc).__name__, errno.errorcode[exc.errno], "could not open the memory file" in str(exc))
            finally:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
            print(pid().result(timeout=30) == worker, len(large_result().result(timeout=30)))
        """
    )
    assert proc.stdout.splitlines() == ["OSError EMFILE True", f"True {4 * 1024 * 1024}"], proc.stderr
