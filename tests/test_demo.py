"""``python -m unsync``: the tour behind ``make demo``."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import RunPython


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unsync", *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_tour_overlaps_every_kind_of_work(backend: str) -> None:
    proc = run_demo("--backend", backend)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"backend: {backend}" in out
    for expected in ("pages fetched concurrently", "blocking read in a thread", "primes below", "then():"):
        assert expected in out
    wall, parts = map(float, re.search(r"all of it\s+([\d.]+) s\s+\(sum of the parts: ([\d.]+) s\)", out).groups())  # type: ignore[union-attr]
    assert wall < parts


def test_help_and_a_bad_option() -> None:
    assert "--backend" in run_demo("--help").stdout
    bad = run_demo("--backend", "curio")
    assert bad.returncode == 2
    assert "invalid choice: 'curio'" in bad.stderr


def test_without_trio_the_tour_says_why_it_skipped_trio(run_python: RunPython) -> None:
    proc = run_python(
        """
        import sys, threading
        sys.modules["trio"] = None  # as if trio were not installed
        from unsync.__main__ import main  # importing the tour runs none of it

        assert [t.name for t in threading.enumerate()] == ["MainThread"]
        sys.exit(main(["--backend", "trio"]))
        """
    )
    assert proc.stdout == ""
    assert proc.stderr.strip() == (
        "backend: trio   skipped: the trio backend needs trio: install it with `pip install 'unsync[trio]'`"
    )
