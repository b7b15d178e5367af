"""CPU work in worker processes, sent by reference.

The module attribute of an ``@unsync(cpu_bound=True)`` function is the
decorator's wrapper, which pickle refuses to treat as the function itself.
`FunctionReference` names the function by module and qualified name, and the
worker unwraps whatever it finds there back to the original.
"""

from __future__ import annotations

import concurrent.futures
import os
import pickle
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_process
from anyio import BrokenWorkerProcess

from ._anyio_portal import ambient_loop
from ._future import Unfuture
from ._workers import as_concurrent_future

T = TypeVar("T")


@dataclass(frozen=True)
class FunctionReference:
    """Names a module-level function so a worker process can import it."""

    module: str
    qualname: str

    @classmethod
    def to(cls, fn: Callable[..., Any]) -> FunctionReference:
        """A reference to ``fn``; `TypeError` if no other process could import it."""
        name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
        module = getattr(fn, "__module__", None)
        if name is None or module is None:
            raise TypeError(f"{fn!r} cannot run in another process: it has no module and name to import it by")
        if "<lambda>" in name:
            raise TypeError(
                f"{fn!r} cannot run in another process: a lambda cannot be imported there; "
                "define it with `def` at module level"
            )
        if "<locals>" in name:
            raise TypeError(
                f"{name} cannot run in another process: it is defined inside another function; move it to module level"
            )
        if module == "__main__" and not getattr(sys.modules.get("__main__"), "__file__", None):
            raise TypeError(
                f"{name} cannot run in another process: it was defined in an interactive session; "
                "put it in a module (a .py file) and import it"
            )
        return cls(module, name)

    def resolve(self) -> Callable[..., Any]:
        """Import the function and unwrap it back to the undecorated original."""
        __import__(self.module)
        found: Any = sys.modules[self.module]
        for part in self.qualname.split("."):
            found = getattr(found, part)
        while getattr(found, "__unsync_wrapper__", False):
            found = found.__wrapped__
        return found  # type: ignore[no-any-return]


class WorkerProcessDied(RuntimeError):
    """The worker process running a ``cpu_bound`` call died before it answered.

    Only the calls that worker was running fail; the next call gets a fresh
    worker::

        try:
            result = simulate(seed).result()
        except unsync.WorkerProcessDied:
            result = simulate(seed).result()  # one retry, on a new worker
    """


def call_by_reference(reference: FunctionReference, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Worker-side entry point: resolve ``reference`` and call it."""
    return reference.resolve()(*args, **kwargs)


def _call_in_worker(reference: FunctionReference, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    # Runs in the worker.  The result is pickled here so that a failure names
    # the function; the worker-side traceback rides along as a note, since
    # tracebacks themselves do not pickle.
    try:
        result = call_by_reference(reference, args, kwargs)
    except BaseException as exc:
        exc.add_note(f"Traceback in the worker process (pid {os.getpid()}):\n" + "".join(traceback.format_exc()))
        raise
    try:
        return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise TypeError(
            f"the result of {reference.qualname}() cannot be sent back from its worker process: {exc}"
        ) from None


def _name_unpicklable_argument(
    reference: FunctionReference, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> str | None:
    named = [(f"argument {i + 1}", value) for i, value in enumerate(args)] + [
        (f"argument {name!r}", value) for name, value in kwargs.items()
    ]
    for label, value in named:
        try:
            pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            return f"{label} of {reference.qualname}() cannot be sent to a worker process: {exc}"
    return None


def _exit_code_of_dead_worker(broken: BrokenWorkerProcess) -> int | str:
    # anyio reaps the dead worker before raising and does not expose it; its
    # Process object is still a local of the frame that raised.
    tb = broken.__traceback__
    while tb is not None:
        code = getattr(tb.tb_frame.f_locals.get("process"), "returncode", None)
        if isinstance(code, int):
            return code
        tb = tb.tb_next
    return "unknown"


async def _run_in_worker_process(
    reference: FunctionReference, args: tuple[Any, ...], kwargs: dict[str, Any], max_workers: int
) -> Any:
    limiter = anyio.to_process.current_default_process_limiter()
    if limiter.total_tokens != max_workers:
        limiter.total_tokens = max_workers
    try:
        pickled = await anyio.to_process.run_sync(_call_in_worker, reference, args, kwargs, cancellable=True)
    except BrokenWorkerProcess as broken:
        raise WorkerProcessDied(
            f"the worker process running {reference.qualname}() died before it answered, "
            f"with exit code {_exit_code_of_dead_worker(broken)} (a crash, os._exit(), or killed, "
            "e.g. by the out-of-memory killer); the next call starts a fresh worker"
        ) from None
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        problem = _name_unpicklable_argument(reference, args, kwargs)
        if problem is None:
            raise
        raise TypeError(problem) from exc
    return pickle.loads(pickled)


class ProcessWorkers(concurrent.futures.Executor):
    """The default pool for ``cpu_bound`` functions: anyio's worker processes.

    Workers are started with a fresh interpreter (like the spawn method), get
    the caller's ``sys.path``, and are reused between calls.  Calls run
    through the ambient loop, so cancelling a running call terminates its
    worker.  ``max_workers`` (default: the CPU count) is what
    ``unsync.process_limit`` reads and sets::

        unsync.process_executor = ProcessWorkers(max_workers=2)
    """

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or os.cpu_count() or 1

    def run_by_reference(
        self, reference: FunctionReference, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Unfuture[Any]:
        return ambient_loop.submit(_run_in_worker_process, (reference, args, kwargs, self.max_workers), {})

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        """Run the module-level function ``fn`` in a worker process."""
        return as_concurrent_future(self.run_by_reference(FunctionReference.to(fn), args, kwargs))


def run_in_process(
    executor: concurrent.futures.Executor, reference: FunctionReference, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Unfuture[Any]:
    """Run the referenced function through ``executor``; the default pool runs it natively."""
    if isinstance(executor, ProcessWorkers):
        return executor.run_by_reference(reference, args, kwargs)
    try:
        return Unfuture(executor.submit(call_by_reference, reference, args, kwargs))
    except Exception as exc:
        # Executors that pickle at submit time (Dask) fail here; like the default
        # pool, fail this call's Unfuture and name the culprit when we can.
        problem = _name_unpicklable_argument(reference, args, kwargs)
        return Unfuture.from_exception(TypeError(problem) if problem else exc)
