"""The measured workloads, importable both by the benchmark runner and by the
probe that runs the same measurements against unsync 1.4.0 in its own venv.

Every workload is a function ``(n) -> seconds`` that performs ``n`` operations;
the runner turns that into microseconds per operation.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

Workload = Callable[[int], float]

# The CPUs the benchmark may use, read before pin_threads narrows them, and
# passed on to the unsync 1.4.0 probe, which starts with its parent's pinning.
if "UNSYNC_BENCH_CPUS" not in os.environ and hasattr(os, "sched_getaffinity"):
    os.environ["UNSYNC_BENCH_CPUS"] = ",".join(map(str, sorted(os.sched_getaffinity(0))))
_CPUS = [int(cpu) for cpu in os.environ.get("UNSYNC_BENCH_CPUS", "").split(",") if cpu]


def pinning() -> str:
    """How `pin_threads` places threads: "cross", "same" or "none"."""
    mode = os.environ.get("UNSYNC_BENCH_PIN", "cross")
    return "none" if len(_CPUS) < 2 or mode == "0" else mode


def pin_threads() -> None:
    """Put this thread on the first CPU and every other thread of the process on the second.

    Left to the scheduler, whether a loop thread shares the caller's core is
    decided anew for every thread, and on a virtual machine a round trip
    across two cores costs about twice one on a single core.  A reference
    loop started once would keep its lucky or unlucky placement for the whole
    run while the ambient loop, restarted every round, draws again: ratios
    moved by 2x from one run to the next.  Pinned, every contestant's hop
    crosses the same two cores, as on a machine with spare cores.
    ``UNSYNC_BENCH_PIN=same`` puts every thread on one core instead (the cost
    of a hop on a busy machine) and ``UNSYNC_BENCH_PIN=0`` leaves placement
    to the scheduler.
    """
    mode = pinning()
    if mode == "none":
        return
    caller, others = {_CPUS[0]}, {_CPUS[0] if mode == "same" else _CPUS[1]}
    os.sched_setaffinity(0, caller)
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and thread.native_id is not None:
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                os.sched_setaffinity(thread.native_id, others)


@contextlib.contextmanager
def steady() -> Iterator[None]:
    """Pin threads (`pin_threads`) and keep the garbage collector off the process's old objects.

    A full collection scans every object in the process.  One that falls
    inside a timing charged its whole pause to whichever contestant was
    running: in a 2,000-call round trip that added 5-25 µs per call, in
    some rounds and not others, and more in the benchmark's big process than
    in the small unsync 1.4.0 probe.  Collecting first and freezing what
    survives leaves the collector only what the contestant itself allocates.
    """
    pin_threads()
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def timed(body: Callable[[], Any]) -> float:
    with steady():
        start = time.perf_counter()
        body()
        return time.perf_counter() - start


def round_trip(call: Callable[[], Any]) -> Workload:
    """``call().result()`` n times in a row."""

    def run(n: int) -> float:
        def body() -> None:
            for _ in range(n):
                call().result()

        return timed(body)

    return run


def burst(call: Callable[[], Any]) -> Workload:
    """Submit n calls, then collect every result."""

    def run(n: int) -> float:
        def body() -> None:
            futures = [call() for _ in range(n)]
            for future in futures:
                future.result()

        return timed(body)

    return run


class LockHandOff:
    """Two threads passing a turn back and forth with two locks, doing nothing else.

    The least any round trip through another thread can cost on this machine:
    one wake-up each way.  It shows how much of a round trip is our work and
    how much is the machine's.
    """

    def __init__(self) -> None:
        self._there, self._back = threading.Lock(), threading.Lock()
        self._there.acquire()
        self._back.acquire()
        threading.Thread(target=self._answer, name="lock-hand-off", daemon=True).start()

    def _answer(self) -> None:
        while True:
            self._there.acquire()
            self._back.release()

    def round_trip(self, n: int) -> float:
        def body() -> None:
            for _ in range(n):
                self._there.release()
                self._back.acquire()

        return timed(body)


def pending_calls_row(n: int) -> str:
    """The name of the measurement of memory per call with ``n`` calls in flight."""
    return f"bytes per pending call, {n:,} in flight"


def memory_per_pending_call(start_sleeping: Callable[[], Any], settle: Callable[[], object], n: int) -> float:
    """Bytes allocated per call while ``n`` sleeping calls are in flight."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    keep = [start_sleeping() for _ in range(n)]
    settle()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del keep
    return (after - before) / n


async def sleep_long() -> None:
    await asyncio.sleep(3600)


async def return_at_once() -> int:
    return 1


def return_at_once_sync() -> int:
    return 1


# -- a whole program: cold start ---------------------------------------------------

# The program's own peak memory, printed last: the kernel's count for a child
# (wait4's ru_maxrss) includes the pages it shared with its parent before exec.
PRINT_PEAK_MEMORY = """
with open("/proc/self/status") as status:
    print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
"""

# A program that imports unsync and makes one async call, the way a short
# script or a command-line tool does; it prints how long its first call took.
ONE_CALL_PROGRAM = (
    """
import time
from unsync import unsync

@unsync
async def one() -> int:
    return 1

started = time.perf_counter()
one().result()
print((time.perf_counter() - started) * 1e3)
"""
    + PRINT_PEAK_MEMORY
)

# What the ambient loop's design cannot do without: the floor for a cold start.
FLOOR_PROGRAM = "import asyncio, concurrent.futures, anyio.from_thread, anyio.lowlevel\n" + PRINT_PEAK_MEMORY


class ProgramRun:
    """One run of a program in a fresh interpreter: wall time, and what it printed (peak memory last)."""

    __slots__ = ("output", "peak_mib", "wall_ms")

    def __init__(self, wall_ms: float, output: list[str]) -> None:
        self.wall_ms = wall_ms
        self.peak_mib = int(output[-1]) / 1024  # VmHWM, in KiB
        self.output = output[:-1]


def run_program(python: str, source: str) -> ProgramRun:
    """Run ``source`` with ``python -c`` as a user's shell would: byte code cached, threads on every core."""
    import subprocess

    environment = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    release_pinning()  # a child starts with the affinity of the thread that made it
    started = time.perf_counter()
    finished = subprocess.run([python, "-c", source], stdout=subprocess.PIPE, text=True, env=environment, check=True)
    wall = time.perf_counter() - started
    return ProgramRun(wall * 1e3, finished.stdout.split())


def release_pinning() -> None:
    """Undo `pin_threads`: every thread of this process may run on every CPU again."""
    if pinning() == "none":
        return
    for thread in threading.enumerate():
        if thread.native_id is not None:
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(thread.native_id, _CPUS)


def use_every_cpu() -> None:
    """In a worker process: run on every CPU, whatever the thread that started it was pinned to."""
    if _CPUS:
        os.sched_setaffinity(0, _CPUS)


# -- cpu_bound data -------------------------------------------------------------------


def nbytes_of(data: Any) -> int:
    """The size of a bytes-like argument: the function of the large-argument round trips."""
    return memoryview(data).nbytes


def heartbeat_gap(start_heartbeat: Callable[[threading.Event], Any], work: Callable[[], object]) -> float:
    """The longest gap (seconds) between the beats of a 1 ms heartbeat while ``work()`` runs.

    ``start_heartbeat(stop)`` starts a coroutine on the loop being watched
    that sleeps 1 ms at a time until ``stop`` is set, and returns an Unfuture
    of the longest gap it saw.
    """
    release_pinning()  # a stall is what the loop suffers, not a pinned thread waiting for its core
    gc.collect()
    gc.freeze()  # a full collection would stall every thread, whatever the data path does
    stop = threading.Event()
    try:
        beating = start_heartbeat(stop)
        time.sleep(0.05)  # let it beat a few times first
        try:
            work()
        finally:
            stop.set()
        return float(beating.result())
    finally:
        gc.unfreeze()
