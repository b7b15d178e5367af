"""Soak test: many threads calling, forking and shutting down at once, for minutes.

Not part of the test suite (``make soak``; ``SOAK_ARGS="--seconds 60"`` to
shorten it).  For each backend a fresh interpreter runs ``--threads`` threads
for ``--seconds``: most make calls of every kind (coroutines, threads,
limited calls, continuations, cancellations) and check each outcome; one
forks a child that must make calls of its own and exit within
``FORK_DEADLINE`` seconds; one shuts the ambient loop down every
``SHUTDOWN_EVERY`` seconds.  The parent reports what it saw as one row of a
Markdown table, written to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

FORK_DEADLINE = 20.0
SHUTDOWN_EVERY = 2.0

WORKLOAD = textwrap.dedent(
    """
    import concurrent.futures, json, os, random, resource, signal, sys, threading, time, warnings
    warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads running, on purpose
    import anyio
    import unsync
    from unsync import Limiter, unsync as decorator

    backend, seconds, thread_count = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    fork_deadline, shutdown_every = float(sys.argv[4]), float(sys.argv[5])
    unsync.use_backend(backend)
    shared = Limiter(3)

    @decorator
    async def add_on_loop(x):
        await anyio.sleep(0)
        return x + 1

    @decorator
    def add_in_thread(x):
        return x + 1

    @decorator(limit=shared)
    def add_limited(x):
        time.sleep(0.0005)
        return x + 1

    @decorator(limit=shared)
    async def add_limited_on_loop(x):
        await anyio.sleep(0.0005)
        return x + 1

    @decorator
    async def sleep_long():
        await anyio.sleep(3600)

    def rss_mb():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    lock = threading.Lock()
    counts = {"calls": 0, "cancelled_by_shutdown": 0, "wrong": 0, "forks": 0, "forks_ok": 0,
              "forks_hung": 0, "forks_failed": 0, "shutdowns": 0}
    errors = []

    def note(**deltas):
        with lock:
            for key, delta in deltas.items():
                counts[key] += delta

    def one_round(rng):
        x = rng.randrange(1000)
        kind = rng.randrange(6)
        if kind == 0:
            future = add_on_loop(x)
        elif kind == 1:
            future = add_in_thread(x)
        elif kind == 2:
            future = add_limited(x)
        elif kind == 3:
            future = add_limited_on_loop(x)
        elif kind == 4:
            future = add_on_loop(x).then(lambda done: done.result())
        else:
            sleeper = sleep_long()
            sleeper.cancel()
            try:
                sleeper.result(timeout=10)
            except concurrent.futures.CancelledError:
                return True
            return False
        return future.result(timeout=30) == x + 1

    def caller(index, stop_at):
        rng = random.Random(index)
        while time.monotonic() < stop_at:
            try:
                ok = one_round(rng)
            except concurrent.futures.CancelledError:
                note(calls=1, cancelled_by_shutdown=1)  # a shutdown() cancelled it: allowed
                continue
            except BaseException as exc:
                ok = False
                with lock:
                    if len(errors) < 5:
                        errors.append(repr(exc))
            note(calls=1, wrong=0 if ok else 1)

    def child_work():
        # The child's own loop, threads and limiter must work from a clean start.
        ok = add_on_loop(1).result(timeout=10) == 2 and add_in_thread(1).result(timeout=10) == 2
        ok = ok and add_limited(1).result(timeout=10) == 2 and add_limited_on_loop(1).result(timeout=10) == 2
        os._exit(0 if ok else 3)

    def forker(stop_at):
        while time.monotonic() < stop_at:
            pid = os.fork()
            if pid == 0:
                try:
                    child_work()
                except BaseException as exc:
                    print(f"forked child: {exc!r}", file=sys.stderr, flush=True)
                finally:
                    os._exit(4)
            deadline = time.monotonic() + fork_deadline
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    code = os.waitstatus_to_exitcode(status)
                    note(forks=1, forks_ok=int(code == 0), forks_failed=int(code != 0))
                    if code != 0:
                        with lock:
                            errors.append(f"a forked child exited with {code}")
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    note(forks=1, forks_hung=1)
                    break
                time.sleep(0.005)

    def shutter(stop_at):
        while time.monotonic() + shutdown_every < stop_at:
            time.sleep(shutdown_every)
            unsync.shutdown()
            note(shutdowns=1)

    add_on_loop(0).result()
    rss_start = rss_mb()
    began = time.monotonic()
    stop_at = began + seconds
    threads = [threading.Thread(target=caller, args=(i, stop_at)) for i in range(thread_count - 2)]
    threads += [threading.Thread(target=forker, args=(stop_at,)), threading.Thread(target=shutter, args=(stop_at,))]
    for thread in threads:
        thread.start()
    rss_peak = rss_start
    while any(thread.is_alive() for thread in threads):
        time.sleep(0.5)
        rss_peak = max(rss_peak, rss_mb())
    unsync.shutdown()
    counts.update(
        backend=backend,
        seconds=round(time.monotonic() - began, 1),
        threads=thread_count,
        rss_start_mb=round(rss_start, 1),
        rss_peak_mb=round(rss_peak, 1),
        rss_end_mb=round(rss_mb(), 1),
        max_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        errors=errors,
    )
    print(json.dumps(counts))
    """
)

COLUMNS = [
    ("backend", "backend"),
    ("seconds", "seconds"),
    ("threads", "threads"),
    ("calls", "calls checked"),
    ("wrong", "wrong or failed"),
    ("cancelled_by_shutdown", "cancelled by a shutdown"),
    ("shutdowns", "shutdowns"),
    ("forks", "forks"),
    ("forks_ok", "children that finished"),
    ("forks_hung", "children that hung"),
    ("rss_start_mb", "RSS at start (MB)"),
    ("rss_peak_mb", "RSS peak (MB)"),
    ("rss_end_mb", "RSS at end (MB)"),
]


def soak(backend: str, seconds: float, threads: int) -> dict[str, object]:
    settings = [backend, str(seconds), str(threads), str(FORK_DEADLINE), str(SHUTDOWN_EVERY)]
    args = [sys.executable, "-c", WORKLOAD, *settings]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 120)
    if proc.returncode != 0:
        raise SystemExit(f"the {backend} soak failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="how long each backend is soaked")
    parser.add_argument("--threads", type=int, default=16, help="threads in all, one forking and one shutting down")
    parser.add_argument("--backends", default="asyncio,trio")
    parser.add_argument("--out", type=Path, default=Path("tools/soak-results.md"))
    options = parser.parse_args()
    rows = []
    for backend in options.backends.split(","):
        result = soak(backend, options.seconds, options.threads)
        print(json.dumps(result), flush=True)
        rows.append(result)
    lines = [
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(str(row[key]) for key, _ in COLUMNS) + " |" for row in rows]
    options.out.write_text("\n".join(lines) + "\n")
    failures = [row for row in rows if row["wrong"] or row["forks_hung"] or row["forks_failed"]]
    if failures:
        raise SystemExit(f"the soak found failures: {json.dumps(failures)}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONFAULTHANDLER", "1")
    main()
