"""unsync's benchmark suite: ``make bench`` (or ``python benchmarks/run.py [--quick]``).

Measures per-call cost of unsync against the raw primitives it is built on and
against unsync 1.4.0, interleaving the contestants round by round so that
drift on a shared machine hits all of them alike.  Prints medians and ratios,
checks the project's targets, and writes, for the thread placement used
(``cross``, ``same`` or ``none``, see `workloads.pin_threads`), all samples
to ``benchmarks/results-<placement>.json``, the tables the documentation
includes to ``benchmarks/results-<placement>.md`` and a chart to
``docs/img/benchmarks-<placement>.png``.  A ``--quick`` run writes only the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import venv
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import sniffio
import trio
from anyio.from_thread import start_blocking_portal

sys.path.insert(0, str(Path(__file__).parent))
from streams import stream_samples
from workloads import (
    FLOOR_PROGRAM,
    ONE_CALL_PROGRAM,
    LockHandOff,
    Workload,
    burst,
    heartbeat_gap,
    memory_per_pending_call,
    nbytes_of,
    pending_calls_row,
    pinning,
    return_at_once,
    return_at_once_sync,
    round_trip,
    run_program,
    sleep_long,
    steady,
    timed,
    use_every_cpu,
)

import unsync
from unsync import unsync as unsynced

HERE = Path(__file__).parent
OLD_VENV = HERE / ".venv-unsync14"
DOCS_IMG = HERE.parent / "docs" / "img"

nop_async = unsynced(return_at_once)
nop_thread = unsynced(return_at_once_sync)


@unsynced(cpu_bound=True)
def nop_process() -> int:
    return 1


nbytes_in_process = unsynced(cpu_bound=True)(nbytes_of)
in_every_worker = unsynced(cpu_bound=True)(use_every_cpu)

# The large arguments of the cpu_bound data rows, and of the heartbeat's call.
LARGE_ARGUMENT = 64 * 2**20
HEARTBEAT_ARGUMENT = 256 * 2**20


@unsynced
async def heartbeat(stop: threading.Event) -> float:
    """Sleep 1 ms at a time on the ambient loop until ``stop`` is set; the longest gap between beats."""
    sleep = trio.sleep if sniffio.current_async_library() == "trio" else asyncio.sleep
    worst, last = 0.0, time.perf_counter()
    while not stop.is_set():
        await sleep(0.001)
        now = time.perf_counter()
        worst, last = max(worst, now - last), now
    return worst


@unsynced
async def sleeper() -> None:
    await asyncio.sleep(3600)


@unsynced
async def trio_sleeper() -> None:
    await trio.sleep(3600)


def settle_ambient_loop() -> None:
    """Return once every call submitted so far has taken its first step.

    trio may run the tasks of one scheduling batch in either order: the first
    call can finish before the rest of its batch has started; the second
    starts in a later batch.
    """
    for _ in range(2):
        nop_async().result()


class ThreadLoop:
    """A plain asyncio loop in a thread: the reference for run_coroutine_threadsafe."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def submit(self, coro_fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro_fn(), self.loop)


class TrioThread:
    """A trio loop in a thread, reached with trio.from_thread.run and its token."""

    def __init__(self) -> None:
        ready = threading.Event()

        async def main() -> None:
            self.token = trio.lowlevel.current_trio_token()
            ready.set()
            await trio.sleep_forever()

        threading.Thread(target=trio.run, args=(main,), daemon=True).start()
        ready.wait()


def await_inside_ambient(n: int) -> float:
    @unsynced
    async def loop_body() -> float:
        start = time.perf_counter()
        for _ in range(n):
            await nop_async()
        return time.perf_counter() - start

    with steady():
        return loop_body().result()


def await_plain_task_inside_ambient(n: int) -> float:
    """The reference: the backend's own way to run a coroutine as a task and wait for it."""

    @unsynced
    async def loop_body() -> float:
        on_trio = sniffio.current_async_library() == "trio"
        start = time.perf_counter()
        for _ in range(n):
            if on_trio:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(return_at_once)
            else:
                await asyncio.create_task(return_at_once())
        return time.perf_counter() - start

    with steady():
        return loop_body().result()


async def await_each(make_awaitable: Callable[[], Awaitable[Any]], n: int) -> float:
    """``await make_awaitable()`` n times from whichever loop runs this."""
    with steady():
        start = time.perf_counter()
        for _ in range(n):
            await make_awaitable()
        return time.perf_counter() - start


def await_from_asyncio_run(n: int) -> float:
    return asyncio.run(await_each(nop_async, n))


def await_from_trio_run(n: int) -> float:
    return trio.run(await_each, nop_async, n)


def switch_backend(backend: str) -> None:
    unsync.shutdown()
    if backend == "uvloop":
        unsync.use_backend("asyncio", use_uvloop=True)
    else:
        unsync.use_backend(backend)
    nop_async().result()


def ensure_old_unsync() -> Path | None:
    """A venv with unsync 1.4.0 (same import name as ours, so it lives apart)."""
    python = OLD_VENV / "bin" / "python"
    if not python.exists():
        print("setting up unsync 1.4.0 in", OLD_VENV, file=sys.stderr)
        venv.create(OLD_VENV, with_pip=True)
        install = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "unsync==1.4.0"], capture_output=True, text=True
        )
        if install.returncode != 0:
            print("could not install unsync 1.4.0; its column stays empty:\n" + install.stderr, file=sys.stderr)
            return None
    return python


def measure_old_unsync(
    python: Path | None, n_rt: int, n_burst: int, n_process: int, in_flight: tuple[int, ...]
) -> dict[str, float]:
    if python is None:
        return {}
    proc = subprocess.run(
        [str(python), str(HERE / "unsync14_probe.py"), *map(str, (n_rt, n_burst, n_process, *in_flight))],
        capture_output=True,
        text=True,
        cwd=HERE,
        timeout=300,
    )
    if proc.returncode != 0:
        print("unsync 1.4.0 probe failed:\n" + proc.stderr, file=sys.stderr)
        return {}
    return {f"{name} / unsync 1.4.0": value for name, value in json.loads(proc.stdout).items()}


def cold_starts(old_python: Path | None, samples: dict[str, list[float]], round_number: int = 0) -> None:
    """One whole program each: ours, unsync 1.4.0's, and the imports our design cannot do without.

    Each round starts with a different one, so that none always runs first,
    just after the heavier measurements of the round before.
    """
    programs = [
        ("unsync", sys.executable, ONE_CALL_PROGRAM),
        ("asyncio + anyio imports", sys.executable, FLOOR_PROGRAM),
    ]
    if old_python is not None:
        programs.append(("unsync 1.4.0", str(old_python), ONE_CALL_PROGRAM))
    start = round_number % len(programs)
    for who, python, source in programs[start:] + programs[:start]:
        finished = run_program(python, source)
        samples[f"cold start, wall / {who}"].append(finished.wall_ms)
        samples[f"cold start, peak memory / {who}"].append(finished.peak_mib)
        if source is ONE_CALL_PROGRAM:
            samples[f"first async call / {who}"].append(float(finished.output[0]))


def large_arguments(
    processes: concurrent.futures.Executor, arguments: dict[str, Any], samples: dict[str, list[float]]
) -> None:
    """A cpu_bound call with each large argument, through unsync and through a ProcessPoolExecutor.

    The loop was restarted (a backend switch), and with it the workers and
    the parent's spare memory files: the first large call after that, timed
    in a row of its own, writes into a new memory file; the calls timed next
    write into the file it left, as a program's repeated calls do.
    """
    for argument in arguments.values():  # workers restarted with the loop import NumPy first
        nbytes_in_process(argument[:1]).result()
    time_sizing(
        samples["cpu_bound call, 64 MB bytes argument, the first after start / unsync"],
        lambda: nbytes_in_process(arguments["bytes"]).result(),
    )
    for kind, argument in arguments.items():
        time_sizing(
            samples[f"cpu_bound call, 64 MB {kind} argument / unsync"],
            lambda value=argument: nbytes_in_process(value).result(),
        )
        time_sizing(
            samples[f"cpu_bound call, 64 MB {kind} argument / ProcessPoolExecutor"],
            lambda value=argument: processes.submit(nbytes_of, value).result(),
        )


def time_sizing(sample: list[float], call: Callable[[], int]) -> None:
    """Add how long ``call()``, which sizes a large argument, took (ms) to ``sample``."""
    with steady():
        started = time.perf_counter()
        assert call() == LARGE_ARGUMENT
        sample.append((time.perf_counter() - started) * 1e3)


def loop_stall(backend: str, argument: bytes, samples: dict[str, list[float]]) -> None:
    """The worst gap of a 1 ms heartbeat on the ambient loop during a cpu_bound call with a large argument.

    The same heartbeat while the program sleeps for as long shows what the
    machine alone costs: on a shared machine, the loop's thread waits for a
    core now and then whatever the program does.
    """
    burst(in_every_worker)(2)
    started = time.perf_counter()
    gap = heartbeat_gap(heartbeat, lambda: nbytes_in_process(argument).result())
    took = time.perf_counter() - started
    samples[f"heartbeat gap during a 256 MB cpu_bound call / unsync {backend}"].append(gap * 1e3)
    idle = heartbeat_gap(heartbeat, lambda: time.sleep(took))
    samples[f"heartbeat gap while idle as long / unsync {backend}"].append(idle * 1e3)


def large_argument_kinds() -> dict[str, Any]:
    import numpy

    return {
        "bytes": os.urandom(LARGE_ARGUMENT),
        "NumPy array": numpy.frombuffer(os.urandom(LARGE_ARGUMENT), dtype=numpy.float64).copy(),
    }


def run(rounds: int, n_rt: int, n_burst: int, n_process: int, in_flight: tuple[int, ...]) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = defaultdict(list)
    plain_loop, trio_thread, hand_off = ThreadLoop(), TrioThread(), LockHandOff()
    portal_cm = start_blocking_portal("asyncio")
    portal = portal_cm.__enter__()
    pool = concurrent.futures.ThreadPoolExecutor(4)
    processes = concurrent.futures.ProcessPoolExecutor(2)
    old_python = ensure_old_unsync()
    pool.submit(int).result()
    processes.submit(int).result()
    nop_thread().result()
    large = large_argument_kinds()
    huge = bytes(HEARTBEAT_ARGUMENT)
    cold_starts(old_python, defaultdict(list))  # caches byte code, as any install does

    def per_call(name: str, workload: Workload, n: int) -> None:
        samples[name].append(workload(n) / n * 1e6)

    for r in range(rounds):
        print(f"round {r + 1}/{rounds}", file=sys.stderr)
        cold_starts(old_python, samples, r)
        for backend in ("asyncio", "uvloop", "trio"):
            switch_backend(backend)
            per_call(f"async round trip / unsync {backend}", round_trip(nop_async), n_rt)
            per_call(f"async burst / unsync {backend}", burst(nop_async), n_burst)
            per_call(f"await from asyncio.run / unsync {backend}", await_from_asyncio_run, n_rt)
            per_call(f"await from trio.run / unsync {backend}", await_from_trio_run, n_rt)
            per_call(f"await inside the loop / unsync {backend}", await_inside_ambient, n_rt)
            per_call(f"await inside the loop / plain task {backend}", await_plain_task_inside_ambient, n_rt)
        switch_backend("asyncio")
        per_call(
            "async round trip / run_coroutine_threadsafe", round_trip(lambda: plain_loop.submit(return_at_once)), n_rt
        )
        per_call("async burst / run_coroutine_threadsafe", burst(lambda: plain_loop.submit(return_at_once)), n_burst)
        per_call(
            "await from asyncio.run / wrap_future(run_coroutine_threadsafe)",
            lambda n: asyncio.run(await_each(lambda: asyncio.wrap_future(plain_loop.submit(return_at_once)), n)),
            n_rt,
        )
        per_call(
            "async round trip / trio.from_thread.run",
            lambda n: timed(
                lambda: [trio.from_thread.run(return_at_once, trio_token=trio_thread.token) for _ in range(n)]
            ),
            n_rt,
        )
        per_call(
            "async round trip / BlockingPortal.call",
            lambda n: timed(lambda: [portal.call(return_at_once) for _ in range(n)]),
            n_rt,
        )
        per_call("thread round trip / lock hand-off, the floor", hand_off.round_trip, n_rt)
        # The pool's threads end after 10 s idle, and a round takes longer: one
        # started inside a timing would run on the caller's core, where the
        # pinning had just put the caller, and the hop would cost a context
        # switch instead of a cross-core wake-up (the ThreadPoolExecutor's
        # threads live for ever, pinned to the other core).  Start them first.
        nop_thread().result()
        per_call("thread round trip / unsync", round_trip(nop_thread), n_rt)
        per_call("thread round trip / ThreadPoolExecutor", round_trip(lambda: pool.submit(return_at_once_sync)), n_rt)
        burst(nop_thread)(n_burst)
        per_call("thread burst / unsync", burst(nop_thread), n_burst)
        per_call("thread burst / ThreadPoolExecutor", burst(lambda: pool.submit(return_at_once_sync)), n_burst)
        # The backend switches restarted the ambient loop and with it the worker
        # processes: start both before timing, as the ProcessPoolExecutor's were.
        burst(nop_process)(4)
        per_call("process round trip / unsync", round_trip(nop_process), n_process)
        per_call(
            "process round trip / ProcessPoolExecutor",
            round_trip(lambda: processes.submit(return_at_once_sync)),
            n_process,
        )
        per_call("process burst / unsync", burst(nop_process), n_process)
        per_call("process burst / ProcessPoolExecutor", burst(lambda: processes.submit(return_at_once_sync)), n_process)
        large_arguments(processes, large, samples)
        loop_stall("asyncio", huge, samples)
        switch_backend("trio")
        burst(nop_process)(2)
        loop_stall("trio", huge, samples)
        old_unsync = measure_old_unsync(old_python, n_rt, n_burst, n_process, in_flight if r == 0 else ())
        for name, value in old_unsync.items():
            samples[name].append(value)

    # Memory is measured once: tracemalloc counts bytes, which do not vary from run to run.
    for n in in_flight:
        for backend in ("asyncio", "uvloop", "trio"):
            switch_backend(backend)
            samples[f"{pending_calls_row(n)} / unsync {backend}"].append(
                memory_per_pending_call(trio_sleeper if backend == "trio" else sleeper, settle_ambient_loop, n)
            )
        unsync.shutdown()
        # These stay pending for the rest of the run, on a loop that is never stopped.
        samples[f"{pending_calls_row(n)} / run_coroutine_threadsafe"].append(
            memory_per_pending_call(
                lambda: plain_loop.submit(sleep_long), lambda: plain_loop.submit(return_at_once).result(), n
            )
        )
    portal_cm.__exit__(None, None, None)
    pool.shutdown()
    processes.shutdown()
    return samples


# Memory per pending call is judged with this many calls in flight; a full run
# also measures 100,000 to show that the cost per call does not grow with it.
TARGET_IN_FLIGHT = 20_000

TARGETS: list[tuple[str, str, str, float]] = [
    ("async round trip, asyncio", "async round trip / unsync asyncio", "async round trip / unsync 1.4.0", 0.8),
    (
        "async round trip, asyncio",
        "async round trip / unsync asyncio",
        "async round trip / run_coroutine_threadsafe",
        1.0,
    ),
    ("async round trip, trio", "async round trip / unsync trio", "async round trip / trio.from_thread.run", 1.0),
    ("async burst", "async burst / unsync asyncio", "async burst / unsync 1.4.0", 0.5),
    ("thread round trip", "thread round trip / unsync", "thread round trip / ThreadPoolExecutor", 1.3),
    ("thread round trip", "thread round trip / unsync", "thread round trip / unsync 1.4.0", 0.5),
    (
        "await inside the loop",
        "await inside the loop / unsync asyncio",
        "await inside the loop / plain task asyncio",
        1.2,
    ),
    ("await inside the loop", "await inside the loop / unsync trio", "await inside the loop / plain task trio", 1.2),
    (
        "memory per pending call",
        f"{pending_calls_row(TARGET_IN_FLIGHT)} / unsync asyncio",
        f"{pending_calls_row(TARGET_IN_FLIGHT)} / unsync 1.4.0",
        0.6,
    ),
    (
        "memory per pending call",
        f"{pending_calls_row(TARGET_IN_FLIGHT)} / unsync asyncio",
        f"{pending_calls_row(TARGET_IN_FLIGHT)} / run_coroutine_threadsafe",
        1.0,
    ),
    ("cold start", "cold start, wall / unsync", "cold start, wall / unsync 1.4.0", 1.25),
    ("cold start", "cold start, peak memory / unsync", "cold start, peak memory / unsync 1.4.0", 1.15),
    (
        "large cpu_bound argument",
        "cpu_bound call, 64 MB bytes argument / unsync",
        "cpu_bound call, 64 MB bytes argument / ProcessPoolExecutor",
        0.25,
    ),
    (
        "large cpu_bound argument",
        "cpu_bound call, 64 MB NumPy array argument / unsync",
        "cpu_bound call, 64 MB NumPy array argument / ProcessPoolExecutor",
        0.25,
    ),
]


# Targets on a value itself: (label, measurement, limit in its unit).
LIMITS: list[tuple[str, str, float]] = [
    ("first async call after import", "first async call / unsync", 3.0),
    (
        "loop stall during a large cpu_bound call",
        "heartbeat gap during a 256 MB cpu_bound call / unsync asyncio",
        20.0,
    ),
    ("loop stall during a large cpu_bound call", "heartbeat gap during a 256 MB cpu_bound call / unsync trio", 20.0),
]


def unit(name: str) -> str:
    """The unit a measurement is recorded in."""
    if name.startswith("bytes"):
        return "bytes"
    if name.startswith("cold start, peak memory"):
        return "MiB"
    if name.startswith(("cold start", "first async call", "cpu_bound call", "heartbeat gap")):
        return "ms"
    return "µs"


def paired_ratio(ours: list[float], reference: list[float]) -> float | None:
    """The median over rounds of ours / reference, each pair timed in the same round.

    A check on the ratio of medians: on a shared machine a slow spell can
    hit a few samples of one contestant and not the other, and pairing by
    round cancels whatever drifts more slowly than one round.  None for
    one-off measurements (memory).
    """
    if len(ours) != len(reference) or len(ours) < 2:
        return None
    return statistics.median(a / b for a, b in zip(ours, reference, strict=True))


def report(samples: dict[str, list[float]]) -> tuple[list[dict[str, Any]], bool]:
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"\n{'measurement':<68} {'median':>10}  rounds")
    for name in sorted(medians):
        print(f"{name:<68} {medians[name]:>9.2f} {unit(name)}  {len(samples[name])}")
    print(f"\n{'target':<26} {'ours / reference':<70} {'ratio':>6} {'paired':>6} {'limit':>6}")
    checks = []
    all_met = True
    for label, ours, reference, limit in TARGETS:
        if ours not in medians or reference not in medians:
            print(f"{label:<26} {ours} / {reference}: not measured")
            continue
        ratio = medians[ours] / medians[reference]
        paired = paired_ratio(samples[ours], samples[reference])
        met = ratio <= limit
        all_met &= met
        checks.append(
            {
                "target": label,
                "ours": ours,
                "reference": reference,
                "ratio": ratio,
                "paired ratio": paired,
                "limit": limit,
                "met": met,
            }
        )
        pair = f"{ours} / {reference.split(' / ')[1]}"
        shown = "" if paired is None else f"{paired:.2f}"
        print(f"{label:<26} {pair:<70} {ratio:6.2f} {shown:>6} {limit:6.2f}  {'PASS' if met else 'FAIL'}")
    for label, name, limit in LIMITS:
        if name not in medians:
            print(f"{label:<26} {name}: not measured")
            continue
        met = medians[name] <= limit
        all_met &= met
        checks.append({"target": label, "ours": name, "median": medians[name], "limit": limit, "met": met})
        print(f"{label:<26} {name:<70} {medians[name]:6.2f} {unit(name):>6} {limit:6.2f}  {'PASS' if met else 'FAIL'}")
    return checks, all_met


PLACEMENTS = {
    "cross": "the caller pinned to one core, every other thread (loops, workers) to the other",
    "same": "every thread pinned to one core",
    "none": "threads placed by the scheduler",
}


def tables(samples: dict[str, list[float]], checks: list[dict[str, Any]], about: dict[str, Any]) -> str:
    """The run as Markdown: what it ran on, every median, every target."""
    rounds = max(len(values) for values in samples.values())
    lines = [
        f"Measured on {about['date']}: {about['cores']} cores ({about['cpu']}), Python {about['python']}, "
        f"{about['platform']}; {rounds} interleaved rounds; {PLACEMENTS[about['thread placement']]}.",
        "",
        "| measurement | median (per call, or per program for cold starts) |",
        "|---|---:|",
    ]
    for name in sorted(samples):
        value = statistics.median(samples[name])
        shown = f"{value:,.0f}" if name.startswith("bytes") else f"{value:.1f}"
        lines.append(f"| {name} | {shown} {unit(name)} |")
    lines += ["", "| target | ratio of medians | median of per-round ratios | limit | |", "|---|---:|---:|---:|---|"]
    ratio_checks = [check for check in checks if "reference" in check]
    for check in ratio_checks:
        pair = f"{check['ours']} vs {check['reference'].split(' / ')[1]}"
        paired = "" if check["paired ratio"] is None else f"{check['paired ratio']:.2f}"
        verdict = "met" if check["met"] else "**missed**"
        lines.append(f"| {pair} | {check['ratio']:.2f} | {paired} | {check['limit']:.2f} | {verdict} |")
    lines += ["", "| target | median | limit | |", "|---|---:|---:|---|"]
    for check in checks:
        if "reference" not in check:
            verdict = "met" if check["met"] else "**missed**"
            shown = f"{check['median']:.1f} {unit(check['ours'])}"
            lines.append(f"| {check['ours']} | {shown} | {check['limit']:.0f} {unit(check['ours'])} | {verdict} |")
    return "\n".join(lines) + "\n"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.date.today().isoformat(),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "thread placement": pinning(),
    }


def draw(samples: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [
        "async round trip",
        "async burst",
        "thread round trip",
        "thread burst",
        "process round trip",
        "await from asyncio.run",
        "await from trio.run",
        "await inside the loop",
        pending_calls_row(TARGET_IN_FLIGHT),
        "cold start, wall",
        "cpu_bound call, 64 MB bytes argument",
        "cpu_bound call, 64 MB NumPy array argument",
    ]
    fig, axes = plt.subplots(len(groups), 1, figsize=(9, 2.1 * len(groups)))
    for axis, group in zip(axes, groups, strict=True):
        names = sorted(n for n in samples if n.startswith(group + " /"))
        values = [statistics.median(samples[n]) for n in names]
        labels = [n.split(" / ", 1)[1] for n in names]
        colors = ["tab:blue" if label.startswith("unsync") and "1.4.0" not in label else "tab:gray" for label in labels]
        axis.barh(labels, values, color=colors)
        axis.set_title(f"{group} (median {unit(names[0])}, lower is better)", fontsize=9)
        axis.tick_params(labelsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and calls (about 30 s)")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument(
        "--no-pin", action="store_true", help="let the scheduler place threads (see workloads.pin_threads)"
    )
    args = parser.parse_args()
    if args.no_pin:
        os.environ["UNSYNC_BENCH_PIN"] = "0"  # the unsync 1.4.0 probe inherits it
    if args.quick:
        samples = run(3, 500, 2000, 50, (TARGET_IN_FLIGHT,))
    else:
        samples = run(15, 2000, 10_000, 200, (TARGET_IN_FLIGHT, 100_000))
    samples.update(stream_samples(rounds=3, n=10_000 if args.quick else 100_000))
    checks, all_met = report(samples)
    about = machine()
    outputs = [HERE / f"results-{about['thread placement']}.json"]
    outputs[0].write_text(
        json.dumps(
            {
                "machine": about,
                "medians": {k: statistics.median(v) for k, v in samples.items()},
                "samples": samples,
                "targets": checks,
            },
            indent=2,
        )
    )
    if not args.quick:
        outputs += [
            HERE / f"results-{about['thread placement']}.md",
            DOCS_IMG / f"benchmarks-{about['thread placement']}.png",
        ]
        outputs[1].write_text(tables(samples, checks, about))
        draw(samples, outputs[2])
    print("\nwrote " + ", ".join(str(path.relative_to(HERE.parent)) for path in outputs))
    return 1 if args.strict and not all_met else 0


if __name__ == "__main__":
    sys.exit(main())
