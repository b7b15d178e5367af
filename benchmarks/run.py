"""unsync's benchmark suite: ``make bench`` (or ``python benchmarks/run.py [--quick]``).

Measures per-call cost of unsync against the raw primitives it is built on and
against unsync 1.4.0, interleaving the contestants round by round so that
drift on a shared machine hits all of them alike.  Prints medians and ratios,
checks the project's targets, and writes ``benchmarks/results.json`` and
``docs/img/benchmarks.png``.
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
from anyio.from_thread import start_blocking_portal

import trio

sys.path.insert(0, str(Path(__file__).parent))
from workloads import (
    LockHandOff,
    Workload,
    burst,
    memory_per_pending_call,
    pinning,
    return_at_once,
    return_at_once_sync,
    round_trip,
    sleep_long,
    steady,
    timed,
)

import unsync
from unsync import unsync as unsynced

HERE = Path(__file__).parent
OLD_VENV = HERE / ".venv-unsync14"
RESULTS = HERE / "results.json"
CHART = HERE.parent / "docs" / "img" / "benchmarks.png"

nop_async = unsynced(return_at_once)
nop_thread = unsynced(return_at_once_sync)


@unsynced(cpu_bound=True)
def nop_process() -> int:
    return 1


@unsynced
async def sleeper() -> None:
    await asyncio.sleep(3600)


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


def measure_old_unsync(python: Path | None, n_rt: int, n_burst: int, n_mem: int) -> dict[str, float]:
    if python is None:
        return {}
    proc = subprocess.run(
        [str(python), str(HERE / "unsync14_probe.py"), str(n_rt), str(n_burst), str(n_mem)],
        capture_output=True,
        text=True,
        cwd=HERE,
        timeout=300,
    )
    if proc.returncode != 0:
        print("unsync 1.4.0 probe failed:\n" + proc.stderr, file=sys.stderr)
        return {}
    return {f"{name} / unsync 1.4.0": value for name, value in json.loads(proc.stdout).items()}


def run(rounds: int, n_rt: int, n_burst: int, n_process: int, n_mem: int) -> dict[str, list[float]]:
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

    def per_call(name: str, workload: Workload, n: int) -> None:
        samples[name].append(workload(n) / n * 1e6)

    for r in range(rounds):
        print(f"round {r + 1}/{rounds}", file=sys.stderr)
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
        per_call("thread round trip / unsync", round_trip(nop_thread), n_rt)
        per_call("thread round trip / ThreadPoolExecutor", round_trip(lambda: pool.submit(return_at_once_sync)), n_rt)
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
        for name, value in measure_old_unsync(old_python, n_rt, n_burst, n_mem if r == 0 else 0).items():
            samples[name].append(value)

    samples["bytes per pending call / unsync asyncio"].append(
        memory_per_pending_call(sleeper, lambda: nop_async().result(), n_mem)
    )
    unsync.shutdown()
    samples["bytes per pending call / run_coroutine_threadsafe"].append(
        memory_per_pending_call(
            lambda: plain_loop.submit(sleep_long), lambda: plain_loop.submit(return_at_once).result(), n_mem
        )
    )
    portal_cm.__exit__(None, None, None)
    pool.shutdown()
    processes.shutdown()
    return samples


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
        "bytes per pending call / unsync asyncio",
        "bytes per pending call / unsync 1.4.0",
        0.6,
    ),
    (
        "memory per pending call",
        "bytes per pending call / unsync asyncio",
        "bytes per pending call / run_coroutine_threadsafe",
        1.0,
    ),
]


def report(samples: dict[str, list[float]]) -> tuple[list[dict[str, Any]], bool]:
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"\n{'measurement':<58} {'median':>10}  rounds")
    for name in sorted(medians):
        unit = "B" if name.startswith("bytes") else "us"
        print(f"{name:<58} {medians[name]:>9.2f}{unit}  {len(samples[name])}")
    print(f"\n{'target':<26} {'ours / reference':<70} {'ratio':>6} {'limit':>6}")
    checks = []
    all_met = True
    for label, ours, reference, limit in TARGETS:
        if ours not in medians or reference not in medians:
            print(f"{label:<26} {ours} / {reference}: not measured")
            continue
        ratio = medians[ours] / medians[reference]
        met = ratio <= limit
        all_met &= met
        checks.append(
            {"target": label, "ours": ours, "reference": reference, "ratio": ratio, "limit": limit, "met": met}
        )
        pair = f"{ours} / {reference.split(' / ')[1]}"
        print(f"{label:<26} {pair:<70} {ratio:6.2f} {limit:6.2f}  {'PASS' if met else 'FAIL'}")
    return checks, all_met


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
        "await from asyncio.run",
        "await inside the loop",
    ]
    fig, axes = plt.subplots(len(groups), 1, figsize=(9, 2.2 * len(groups)))
    for axis, group in zip(axes, groups, strict=True):
        names = sorted(n for n in samples if n.startswith(group + " /"))
        values = [statistics.median(samples[n]) for n in names]
        labels = [n.split(" / ", 1)[1] for n in names]
        colors = ["tab:blue" if label.startswith("unsync") and "1.4.0" not in label else "tab:gray" for label in labels]
        axis.barh(labels, values, color=colors)
        axis.set_title(f"{group} (median µs per call, lower is better)", fontsize=9)
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
    sizes = (3, 500, 2000, 50, 5000) if args.quick else (15, 2000, 10_000, 200, 20_000)
    samples = run(*sizes)
    checks, all_met = report(samples)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": machine(),
                "medians": {k: statistics.median(v) for k, v in samples.items()},
                "samples": samples,
                "targets": checks,
            },
            indent=2,
        )
    )
    draw(samples, CHART)
    print(f"\nwrote {RESULTS.relative_to(HERE.parent)} and {CHART.relative_to(HERE.parent)}")
    return 1 if args.strict and not all_met else 0


if __name__ == "__main__":
    sys.exit(main())
