"""os.fork() while unsync is busy: every child must be able to work, and nothing inherited stays pending.

Each test runs in a fresh interpreter, as fork touches the whole process.
The forks happen while other threads make calls, many times over, so that
some fork lands while a lock is held.
"""

from __future__ import annotations

import os

import pytest

from conftest import RunPython

BACKENDS = ["asyncio", "trio"]

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

PRELUDE = """
import os, signal, sys, threading, time, warnings
warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads running, on purpose
import anyio
import unsync
from unsync import Limiter, Unfuture, unsync as decorator
unsync.use_backend({backend!r})

def wait_for_child(pid, seconds):
    # The child's exit code, or "hung" (and the child killed) after `seconds`.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.002)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "hung"

def report_in_child(inherited, cancel_first):
    # In the child: how each inherited future ends (an error naming the fork: True), into child.txt.
    lines = []
    for name, future in inherited.items():
        if cancel_first:
            future.cancel()  # it must not leave the future pending for ever
        try:
            future.result(timeout=2)  # it must not hang
            lines.append(f"{{name}}: result")
        except RuntimeError as exc:
            lines.append(f"{{name}}: {{'fork' in str(exc)}}")
        except BaseException as exc:
            lines.append(f"{{name}}: {{type(exc).__name__}}")
    with open("child.txt", "w") as out:
        out.write("\\n".join(lines))
    os._exit(0)
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_150_forks_while_8_threads_make_calls_all_finish(run_python: RunPython, backend: str) -> None:
    proc = run_python(
        PRELUDE.format(backend=backend)
        + """
shared = Limiter(2)

@decorator
async def on_loop(x):
    await anyio.sleep(0)
    return x + 1

@decorator
def in_thread(x):
    return x + 1

@decorator(limit=shared)
def limited(x):
    return x + 1

stop = threading.Event()
warmed_up = threading.Barrier(9)

def keep_calling():
    while not stop.is_set():
        assert on_loop(1).result(timeout=30) == 2
        assert in_thread(1).result(timeout=30) == 2
        assert limited(1).result(timeout=30) == 2
        on_loop(1).then(lambda done: done.result()).result(timeout=30)
        for _ in range(200):  # what takes the Unfutures' shared lock most often
            future = Unfuture()
            future.add_done_callback(len)
            future.set_result(())
        if not warmed_up.broken:
            warmed_up.wait()
            warmed_up.abort()

callers = [threading.Thread(target=keep_calling) for _ in range(8)]
for caller in callers:
    caller.start()
# Forks begin once every caller has made its first calls: a fork while
# another thread imports a module (as the loop does when it first starts)
# leaves that module's import lock held in the child, which CPython does not
# reset (see docs/reliability.md).
try:
    warmed_up.wait()
except threading.BrokenBarrierError:
    pass
codes = []
for _ in range(150):
    pid = os.fork()
    if pid == 0:
        ok = on_loop(1).result(timeout=10) == 2 and in_thread(2).result(timeout=10) == 3
        ok = ok and limited(3).result(timeout=10) == 4
        os._exit(0 if ok else 1)
    codes.append(wait_for_child(pid, 10))
stop.set()
for caller in callers:
    caller.join()
print(len(codes), sorted(set(map(str, codes))))
""",
        timeout=240,
    )
    assert proc.stdout.split("\n")[0] == "150 ['0']"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_limited_call_works_in_a_child_forked_while_the_parent_held_the_slot(
    run_python: RunPython, backend: str
) -> None:
    proc = run_python(
        PRELUDE.format(backend=backend)
        + """
gate, holding = threading.Event(), threading.Event()

@decorator(limit=1)
def one_at_a_time(x):
    holding.set()
    gate.wait(10)
    return x

@decorator(limit=1)
async def one_on_loop(x):
    return x

held, queued = one_at_a_time("parent"), one_at_a_time("queued")
holding.wait(10)
pid = os.fork()
if pid == 0:
    gate.set()
    ok = one_at_a_time("child").result(timeout=5) == "child" and one_on_loop(1).result(timeout=5) == 1
    os._exit(0 if ok else 1)
print(wait_for_child(pid, 20))
gate.set()
print(held.result(timeout=10), queued.result(timeout=10))
"""
    )
    assert proc.stdout.splitlines() == ["0", "parent queued"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_unfutures_inherited_through_fork_fail_at_once_in_the_child(run_python: RunPython, backend: str) -> None:
    proc = run_python(
        PRELUDE.format(backend=backend)
        + """
gate, started = threading.Event(), threading.Event()

@decorator
async def sleeper():
    started.set()
    await anyio.sleep(3600)

@decorator
def blocked():
    gate.wait(30)
    return "thread done"

@decorator(limit=1)
def limited():
    gate.wait(30)
    return "limited done"

coroutine_call = sleeper()
started.wait(10)
inherited = {"coroutine": coroutine_call, "thread": blocked(), "limited": limited(), "in line": limited()}
pid = os.fork()
if pid == 0:
    report_in_child(inherited, cancel_first=True)
print(wait_for_child(pid, 20))
gate.set()
print(inherited["thread"].result(timeout=10), inherited["in line"].result(timeout=10))
print(coroutine_call.cancel(), open("child.txt").read().splitlines())
"""
    )
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["0", "thread done limited done"]
    assert lines[2] == "True ['coroutine: True', 'thread: True', 'limited: True', 'in line: True']"


@pytest.mark.parametrize("backend", BACKENDS)
def test_cpu_bound_calls_work_in_a_child_forked_while_the_parent_runs_one(run_python: RunPython, backend: str) -> None:
    proc = run_python(
        PRELUDE.format(backend=backend)
        + """
@decorator(cpu_bound=True)
def nap(seconds):
    time.sleep(seconds)
    return seconds

if __name__ == "__main__":
    long = nap(30)
    while not long.running():
        time.sleep(0.01)
    time.sleep(0.5)  # in its worker by now
    pid = os.fork()
    if pid == 0:
        try:
            long.result(timeout=2)
            inherited = "result"
        except RuntimeError as exc:
            inherited = "fork" in str(exc)
        ok = inherited is True and nap(0).result(timeout=30) == 0
        os._exit(0 if ok else 1)
    print(wait_for_child(pid, 60))
    print(long.cancel())
"""
    )
    assert proc.stdout.splitlines() == ["0", "True"]


def test_a_thread_executor_future_pending_at_fork_fails_at_once_in_the_child(run_python: RunPython) -> None:
    # The futures of unsync.thread_executor.submit() are concurrent.futures ones, not Unfutures.
    proc = run_python(
        PRELUDE.format(backend="asyncio")
        + """
gate, running = threading.Event(), threading.Event()

def blocked():
    running.set()
    gate.wait(30)
    return "done in the parent"

executor = unsync.thread_executor
unsync.thread_limit = 1
inherited = {"running": executor.submit(blocked), "waiting": executor.submit(blocked)}
running.wait(10)
pid = os.fork()
if pid == 0:
    report_in_child(inherited, cancel_first=False)
print(wait_for_child(pid, 20))
gate.set()
print([future.result(timeout=10) for future in inherited.values()], open("child.txt").read().splitlines())
"""
    )
    assert proc.stdout.splitlines() == [
        "0",
        "['done in the parent', 'done in the parent'] ['running: True', 'waiting: True']",
    ]
