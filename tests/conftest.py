"""Shared fixtures: run a Python snippet in a fresh interpreter.

Anything that touches process-global state (the backend choice, shutdown,
fork, interpreter exit) runs in a subprocess so tests cannot leak into one
another.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

RunPython = Callable[..., subprocess.CompletedProcess[str]]

# A shell that starts the suite in the background (`make test &`) has it
# ignore SIGINT, and the interpreters it starts would inherit that: the tests
# that press Ctrl-C in one would see nothing happen.  A handler, unlike an
# ignored signal, is reset to the default in each program started.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def run_python(tmp_path: Path) -> RunPython:
    """Run ``source`` as a script in a new interpreter; return the finished process."""

    def run(
        source: str, *, timeout: float = 30, check: bool = True, name: str = "script.py"
    ) -> subprocess.CompletedProcess[str]:
        script = tmp_path / name
        script.write_text(textwrap.dedent(source))
        proc = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=timeout, cwd=tmp_path
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"script failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run
