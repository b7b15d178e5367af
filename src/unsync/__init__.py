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

from importlib.metadata import PackageNotFoundError, version

from ._decorator import BoundUnsyncFunction, Unsync, UnsyncFunction, unsync
from ._future import DeadlockError, Unfuture
from ._limits import Limiter
from ._processes import ProcessWorkers, WorkerProcessDied
from ._progress import ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, as_completed, wait
from ._workers import ThreadWorkers

try:
    __version__ = version("unsync")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

use_backend = unsync.use_backend
shutdown = unsync.shutdown

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
    "UnsyncFunction",
    "WorkerProcessDied",
    "__version__",
    "as_completed",
    "shutdown",
    "unsync",
    "use_backend",
    "wait",
]
