"""``python -m unsync``: the tour behind ``make demo``."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


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
