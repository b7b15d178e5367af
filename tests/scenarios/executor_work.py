"""Module-level work for the Executor contract tests: both pools run these, one in worker processes."""

from __future__ import annotations

import os
import time
from pathlib import Path


class Payload:
    """Something big enough to matter, and weakly referable, so a test can see it die."""

    def __init__(self, size: int = 1000) -> None:
        self.data = bytearray(size)


class PayloadError(Exception):
    def __init__(self, payload: Payload) -> None:
        super().__init__("failed")
        self.payload = payload


def make_payload(n: int) -> Payload:
    return Payload(n + 1)


def measure(payload: Payload) -> int:
    return len(payload.data)


def fail_with_payload() -> None:
    raise PayloadError(Payload())


def wait_for_file(path: str, timeout: float = 10.0) -> str:
    """Run until ``path`` exists (the test's way to release a running call); write our pid beside it."""
    Path(path + ".started").write_text(str(os.getpid()))
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(path)
        time.sleep(0.005)
    return "released"


def touch(path: str) -> str:
    Path(path).write_text("ran")
    return "touched"


def slow_square(n: int) -> int:
    time.sleep(0.05)
    return n * n


def append_line(path: str, line: str) -> None:
    with open(path, "a") as out:
        out.write(line + "\n")
