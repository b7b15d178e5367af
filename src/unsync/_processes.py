"""CPU work in worker processes, sent by reference.

The module attribute of an ``@unsync(cpu_bound=True)`` function is the
decorator's wrapper, which pickle refuses to treat as the function itself.
`FunctionReference` names the function by module and qualified name, and the
worker unwraps whatever it finds there back to the original.
"""

from __future__ import annotations

import concurrent.futures
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio.to_process

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


def call_by_reference(reference: FunctionReference, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Worker-side entry point: resolve ``reference`` and call it."""
    return reference.resolve()(*args, **kwargs)


async def _run_in_worker_process(
    reference: FunctionReference, args: tuple[Any, ...], kwargs: dict[str, Any], max_workers: int
) -> Any:
    limiter = anyio.to_process.current_default_process_limiter()
    if limiter.total_tokens != max_workers:
        limiter.total_tokens = max_workers
    return await anyio.to_process.run_sync(call_by_reference, reference, args, kwargs, cancellable=True)


class ProcessWorkers(concurrent.futures.Executor):
    """The default pool for ``cpu_bound`` functions: anyio's worker processes.

    Workers are started with a fresh interpreter (like the spawn method), get
    the caller's ``sys.path``, and are reused between calls.  Calls run
    through the ambient loop, so cancelling a running call terminates its
    worker.
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
    return Unfuture(executor.submit(call_by_reference, reference, args, kwargs))
