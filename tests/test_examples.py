"""Every script in examples/ runs, on each backend it supports, and prints what it promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"
BOTH = ["asyncio", "trio"]

# example -> (backends to run it with, or [None] for none; a pattern its output must match)
EXPECTED: dict[str, tuple[list[str | None], str]] = {
    "async_from_sync.py": (BOTH, r"(asyncio|trio) \[7, 5, 4\] overlapped=True"),
    "blocking_io_in_threads.py": (BOTH, r"\['ada:0', 'ada:1', 'ada:2'\] five at a time=True"),
    "cpu_work_in_processes.py": (BOTH, r"steps \[111, 118, 178\]\nother process True"),
    "choosing_a_backend.py": ([None], r"asyncio asyncio\nuvloop asyncio\ntrio trio"),
    "inside_asyncio_run.py": (BOTH, r"timed out as asked\nfetched \[0, 1, 2, 3, 4\] squared 16"),
    "inside_trio_run.py": (BOTH, r"fetched \[0, 1, 2, 3, 4\] timed out True"),
    "continuations.py": (BOTH, r"11\.40 EUR\nno price for unicorn"),
    "cancellation_and_timeouts.py": (
        BOTH,
        r"result\(\) timed out; the job goes on\ncancel requested True\ncancelled, cleanup ran: True",
    ),
    "shutdown_fork_and_exit.py": (
        BOTH,
        r"fresh loop after shutdown True\nchild worked True\nexiting with a task still asleep\ncleanup at exit",
    ),
    "streams_tcp_and_csv.py": (
        BOTH,
        r"(asyncio|trio) tcp: AAPL 187\.50 / MSFT 402\.10 / NVDA 121\.40\n"
        r"csv: 200 rows, quantity 20100, loop stayed free True",
    ),
    "typing_example.py": ([None], r"43"),
    "progress_with_tqdm.py": ([None], r"simulations done 40"),
}


def test_every_example_is_covered() -> None:
    scripts = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(EXPECTED)


CASES = [(name, backend) for name, (backends, _) in EXPECTED.items() for backend in backends]


@pytest.mark.parametrize(("name", "backend"), CASES, ids=[f"{n}-{b or 'default'}" for n, b in CASES])
def test_example(name: str, backend: str | None) -> None:
    args = [sys.executable, str(EXAMPLES / name)] + (["--backend", backend] if backend else [])
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=EXAMPLES, check=False)
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(EXPECTED[name][1], proc.stdout.strip()), proc.stdout
