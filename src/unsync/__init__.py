"""unsync: call async code from sync code, and blocking or CPU-heavy code from async code.

One decorator does it.  ``@unsync`` on an ``async def`` runs it on an ambient
event loop (asyncio, uvloop or trio, through anyio) in a background thread; on
a plain function it runs in a worker thread; with ``cpu_bound=True`` in a
worker process.  Every call returns an `Unfuture` that you can block on with
``.result()`` or ``await`` from any event loop:

    >>> import asyncio
    >>> from unsync import unsync
    >>> @unsync
    ... async def greet(name: str) -> str:
    ...     await asyncio.sleep(0.01)
    ...     return f"hello {name}"
    >>> greet("world").result()
    'hello world'
"""

import sys
import types
from typing import TYPE_CHECKING, Any

from ._contexts import UnsyncContext
from ._decorator import (
    BoundUnsyncFunction,
    Unsync,
    UnsyncFunction,
    UnsyncMethod,
    context,
    shutdown,
    unsync,
    use_backend,
)
from ._future import DeadlockError, Unfuture
from ._limits import Limiter
from ._progress import ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, as_completed, wait
from ._streams import UnsyncStream
from ._version import __version__
from ._workers import ThreadWorkers

# The decorator's settings, also reachable as `import unsync; unsync.process_limit = 2`.
# Without forwarding, that assignment would only add an attribute to this module.
_SETTINGS = [name for name, attribute in vars(Unsync).items() if isinstance(attribute, property)]

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures
    import threading

    import anyio.lowlevel

    from ._processes import ProcessWorkers, WorkerProcessDied

    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    token: anyio.lowlevel.EventLoopToken
    thread_executor: concurrent.futures.Executor
    process_executor: concurrent.futures.Executor
    thread_limit: int
    process_limit: int
    exit_grace_period: float | None


def __getattr__(name: str) -> Any:
    # The process pool's code is loaded on first use: most programs never need it.
    if name in ("ProcessWorkers", "WorkerProcessDied"):
        from . import _processes

        value = getattr(_processes, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _forwarded(name: str) -> property:
    return property(lambda _module: getattr(unsync, name), lambda _module, value: setattr(unsync, name, value))


def _keep_the_decorator(_module: types.ModuleType, value: object) -> None:
    # `import unsync.unsync` (1.4.0's module path) makes the import system bind
    # the submodule as this package's attribute `unsync`, which would shadow
    # the decorator.  This property on the module's class outranks the module
    # dict, so the binding is ignored and `unsync.unsync` stays the decorator.
    if value is not sys.modules.get(f"{__name__}.unsync"):
        raise TypeError("unsync.unsync is the decorator and cannot be replaced")


sys.modules[__name__].__class__ = type(
    "UnsyncModule",
    (types.ModuleType,),
    {"unsync": property(lambda _module: unsync, _keep_the_decorator)} | {name: _forwarded(name) for name in _SETTINGS},
)

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "BoundUnsyncFunction",
    "DeadlockError",
    "Limiter",
    "ProcessWorkers",
    "ThreadWorkers",
    "Unfuture",
    "Unsync",
    "UnsyncContext",
    "UnsyncFunction",
    "UnsyncMethod",
    "UnsyncStream",
    "WorkerProcessDied",
    "__version__",
    "as_completed",
    "context",
    "shutdown",
    "unsync",
    "use_backend",
    "wait",
]
