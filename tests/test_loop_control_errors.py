"""Mistakes with the ambient loop's controls, each in a fresh interpreter: what the user is told."""

from __future__ import annotations

import pytest

from conftest import RunPython


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_shutdown_from_a_task_of_the_ambient_loop_is_refused(run_python: RunPython, backend: str) -> None:
    proc = run_python(
        f"""
        import unsync

        unsync.use_backend({backend!r})

        @unsync.unsync
        async def stop_from_inside():
            unsync.shutdown()

        try:
            stop_from_inside().result(timeout=10)
        except RuntimeError as exc:
            print(exc)
        """
    )
    assert proc.stdout.strip() == "unsync.shutdown() cannot be called from the ambient loop's own thread"


def test_the_trio_backend_without_trio_says_how_to_install_it(run_python: RunPython) -> None:
    proc = run_python(
        """
        import sys
        sys.modules["trio"] = None  # as if trio were not installed
        import unsync

        try:
            unsync.use_backend("trio")
        except ImportError as exc:
            print(exc)
        """
    )
    assert proc.stdout.strip() == "the trio backend needs trio: install it with `pip install 'unsync[trio]'`"
