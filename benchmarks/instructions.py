"""Instructions per call, counted by valgrind's callgrind: ``make instructions``.

Wall-clock figures on a shared virtual machine move by 10-20% from one run to
the next.  An instruction count does not: the same code and inputs give the
same count (within 0.1% here), whatever else the machine is doing, so a
change of 1% in the CPU work of a call shows.  It counts the work of every
thread of the process (the caller, the loop, the workers), in user space
only: what it cannot see is the kernel's part of a wake-up, which across
cores is most of a round trip's wall-clock time.

Each workload runs in its own process under callgrind twice, with 0 and with
N calls after the same warm-up; the difference over N is the count per call.
unsync 1.4.0 runs from the venv that ``run.py`` sets up.

Usage: python benchmarks/instructions.py [-n N] [WORKLOAD ...]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
OLD_PYTHON = HERE / ".venv-unsync14" / "bin" / "python"
WARM_UP = 200


async def return_at_once() -> int:
    return 1


def return_at_once_sync() -> int:
    return 1


def unsync_call(fn: Callable[..., Any]) -> Callable[[], Any]:
    from unsync import unsync

    return unsync(fn)


def loop_in_a_thread() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return loop


def round_trips(call: Callable[[], Any], n: int) -> None:
    for _ in range(WARM_UP + n):
        call().result()


def awaits_inside_the_ambient_loop(make_awaitable: Callable[[], Any], n: int) -> None:
    from unsync import unsync

    @unsync
    async def body() -> None:
        for _ in range(WARM_UP + n):
            await make_awaitable()

    body().result()


def trio_in_a_thread() -> Any:
    """A trio loop in a daemon thread; its token."""
    import trio

    tokens: queue.SimpleQueue[Any] = queue.SimpleQueue()

    async def serve() -> None:
        tokens.put(trio.lowlevel.current_trio_token())
        await trio.sleep_forever()

    threading.Thread(target=trio.run, args=(serve,), daemon=True).start()
    return tokens.get()


def run_workload(name: str, n: int) -> None:
    """The child side: run ``n`` calls of one workload."""
    if name == "async round trip / unsync":
        round_trips(unsync_call(return_at_once), n)
    elif name == "async round trip / unsync trio":
        import unsync

        unsync.use_backend("trio")
        round_trips(unsync_call(return_at_once), n)
    elif name == "async round trip / trio.from_thread.run":
        import trio

        token = trio_in_a_thread()
        for _ in range(WARM_UP + n):
            trio.from_thread.run(return_at_once, trio_token=token)
    elif name == "async round trip / run_coroutine_threadsafe":
        loop = loop_in_a_thread()
        round_trips(lambda: asyncio.run_coroutine_threadsafe(return_at_once(), loop), n)
    elif name == "thread round trip / unsync":
        round_trips(unsync_call(return_at_once_sync), n)
    elif name == "thread round trip / ThreadPoolExecutor":
        pool = concurrent.futures.ThreadPoolExecutor()
        round_trips(lambda: pool.submit(return_at_once_sync), n)
    elif name == "await inside the loop / unsync":
        awaits_inside_the_ambient_loop(unsync_call(return_at_once), n)
    elif name == "await inside the loop / plain task":
        awaits_inside_the_ambient_loop(lambda: asyncio.create_task(return_at_once()), n)
    else:
        raise SystemExit(f"unknown workload {name!r}")


# Workloads, and the interpreter each runs with: unsync 1.4.0 has our import name.
WORKLOADS: dict[str, Path | None] = {
    "async round trip / unsync": None,
    "async round trip / unsync 1.4.0": OLD_PYTHON,
    "async round trip / run_coroutine_threadsafe": None,
    "async round trip / unsync trio": None,
    "async round trip / trio.from_thread.run": None,
    "thread round trip / unsync": None,
    "thread round trip / unsync 1.4.0": OLD_PYTHON,
    "thread round trip / ThreadPoolExecutor": None,
    "await inside the loop / unsync": None,
    "await inside the loop / plain task": None,
}


def count(name: str, n: int) -> int:
    """Instructions of the whole process running ``n`` calls of workload ``name``."""
    python = WORKLOADS[name] or Path(sys.executable)
    workload = name.replace(" / unsync 1.4.0", " / unsync")
    callgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    proc = subprocess.run(
        [*callgrind, str(python), __file__, "--child", workload, str(n)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},  # the same dict layouts in every process
        timeout=900,
    )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"{name}: callgrind run failed:\n{proc.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3000, help="calls per measured run (default 3000)")
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "N"), help=argparse.SUPPRESS)
    parser.add_argument("workloads", nargs="*", default=list(WORKLOADS), help="which to count (default: all)")
    args = parser.parse_args()
    if args.child:
        run_workload(args.child[0], int(args.child[1]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 1
    print(f"{'workload':<48} {'instructions per call':>22}")
    for name in args.workloads:
        if WORKLOADS[name] is not None and not OLD_PYTHON.exists():
            print(f"{name:<48} {'(run make bench once to install unsync 1.4.0)':>22}")
            continue
        per_call = (count(name, args.n) - count(name, 0)) / args.n
        print(f"{name:<48} {per_call:>22,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
