"""What `import unsync` and the first call load: only what that call needs."""

from __future__ import annotations

import json

from conftest import RunPython

# Modules a program that imports unsync, or makes one async call on asyncio, does not need.
NOT_AT_IMPORT = [
    "importlib.metadata",
    "trio",
    "multiprocessing",
    "pickle",
    "unsync._processes",
    "anyio",  # loaded by the first use that needs it: a task calling anyio, trio, a stream
    "typing_extensions",  # which anyio.abc imports
]


def test_importing_unsync_loads_no_version_metadata_trio_or_process_code(run_python: RunPython) -> None:
    proc = run_python(
        f"""
        import json, sys
        already = set(sys.modules)  # what the interpreter (or a coverage run) loaded before us
        import unsync
        print(json.dumps([name for name in {NOT_AT_IMPORT!r} if name in sys.modules and name not in already]))
        print(unsync.__version__)
        """
    )
    loaded, version = proc.stdout.splitlines()
    assert json.loads(loaded) == []
    assert version[0].isdigit()


def test_the_first_async_call_on_asyncio_loads_no_anyio(run_python: RunPython) -> None:
    proc = run_python(
        f"""
        import json, sys
        already = set(sys.modules)  # what the interpreter (or a coverage run) loaded before us
        from unsync import unsync

        @unsync
        async def one():
            return 1

        assert one().result(timeout=30) == 1
        print(json.dumps([name for name in {NOT_AT_IMPORT!r} if name in sys.modules and name not in already]))
        """
    )
    assert json.loads(proc.stdout) == []


def test_what_is_loaded_late_still_works_from_the_package(run_python: RunPython) -> None:
    proc = run_python(
        """
        import anyio
        import unsync
        from unsync import ProcessWorkers, WorkerProcessDied, unsync as decorator

        @decorator
        async def with_anyio():
            await anyio.sleep(0)  # anyio loads its backend in the task that needs it
            return unsync.token is not None

        @decorator(cpu_bound=True)
        def double(n):
            return 2 * n

        if __name__ == "__main__":
            print(with_anyio().result(timeout=30), issubclass(WorkerProcessDied, RuntimeError))
            print(isinstance(unsync.process_executor, ProcessWorkers), double(21).result(timeout=30))
        """
    )
    assert proc.stdout.splitlines() == ["True True", "True 42"]
