"""Watching real processes from tests: wait for something, and tell whether a process runs."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path


def wait_until(condition: Callable[[], bool], failure: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.01)


def pid_written_to(pid_file: Path) -> int:
    """The pid a worker writes to ``pid_file`` once it runs."""
    wait_until(lambda: pid_file.exists() and pid_file.read_text() != "", "the worker never started")
    return int(pid_file.read_text())


def is_running(pid: int) -> bool:
    """Whether ``pid`` runs; an exited process not yet reaped (a zombie) does not, where /proc shows it.

    A process with several threads has exited, files closed, only once every
    thread has: its main thread shows as a zombie a moment before the others.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return not os.path.isdir("/proc")
    for thread in threads:
        try:
            with open(f"/proc/{pid}/task/{thread}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] != "Z":
                    return True
        except FileNotFoundError:
            continue  # that thread is gone
    return False
