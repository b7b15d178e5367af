"""What differs between asyncio and trio in the ambient loop, behind one interface.

A `TaskSpawner` lives on the ambient loop's thread.  It starts coroutines as
tasks that settle an `Unfuture`, cancels one task on request from any thread,
and at shutdown cancels (or waits for) every task it started.  Everything else
(the portal, the thread, submission batching) is backend-neutral and lives in
`_anyio_portal`.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

import anyio
from anyio.abc import TaskStatus

from ._future import Unfuture

if TYPE_CHECKING:
    import trio

CoroutineFunction = Callable[..., Coroutine[Any, Any, Any]]


class TaskSpawner(Protocol):
    """Runs coroutines as tasks on the ambient loop (called on its thread)."""

    async def serve(self, *, task_status: TaskStatus[None]) -> None:
        """Run for the loop's whole life; report started once spawning works."""

    def spawn(
        self,
        fn: CoroutineFunction,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: contextvars.Context | None,
        future: Unfuture[Any],
    ) -> None:
        """Start ``fn(*args, **kwargs)`` in ``context`` (None: the current one); settle ``future``."""

    async def aclose(self, cancel: bool, grace_period: float | None) -> None:
        """Cancel (or wait for) every task; return when they have all ended."""


class AsyncioSpawner:
    """Spawns plain asyncio tasks: the cheapest way to run a coroutine on asyncio."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = anyio.Event()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    async def serve(self, *, task_status: TaskStatus[None]) -> None:
        self._loop = asyncio.get_running_loop()
        task_status.started()
        await self._closed.wait()

    def spawn(
        self,
        fn: CoroutineFunction,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: contextvars.Context | None,
        future: Unfuture[Any],
    ) -> None:
        try:
            coro = fn(*args, **kwargs)
        except BaseException as exc:
            future._settle("finished", None, exc)
            return
        loop = self.loop
        # Settling inside the task, not from a done callback, saves a loop iteration.
        task = loop.create_task(self._run_task(coro, future), context=context)
        # asyncio keeps only weak references to tasks: this set keeps them alive.
        self._tasks.add(task)
        future._asyncio_future = task

        def cancel_task() -> bool:
            loop.call_soon_threadsafe(task.cancel)
            return True

        if not future._claim(cancel_task):
            task.cancel()

    async def _run_task(self, coro: Coroutine[Any, Any, Any], future: Unfuture[Any]) -> None:
        # The outcome lives in the Unfuture only: a task that kept the exception
        # too would have asyncio log it as never retrieved.
        try:
            value = await coro
        except asyncio.CancelledError:
            future._set_cancelled()
            raise
        except BaseException as exc:
            future._settle("finished", None, exc)
        else:
            future._settle("finished", value, None)
        finally:
            self._tasks.discard(asyncio.current_task())

    async def aclose(self, cancel: bool, grace_period: float | None) -> None:
        with anyio.move_on_after(math.inf if grace_period is None else grace_period):
            while self._tasks:
                if cancel:
                    for task in self._tasks:
                        task.cancel()
                await asyncio.wait(set(self._tasks))
        self._closed.set()


class TrioSpawner:
    """Spawns tasks into one long-lived trio nursery, each in its own cancel scope."""

    def __init__(self) -> None:
        import trio

        self._trio = trio
        self._nursery: trio.Nursery | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._scopes: set[trio.CancelScope] = set()
        self._closing = trio.Event()
        self._all_done: trio.Event | None = None

    async def serve(self, *, task_status: TaskStatus[None]) -> None:
        trio = self._trio
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await self._closing.wait()

    def spawn(
        self,
        fn: CoroutineFunction,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: contextvars.Context | None,
        future: Unfuture[Any],
    ) -> None:
        assert self._nursery is not None
        assert self._token is not None
        scope = self._trio.CancelScope()
        token = self._token

        def cancel_scope() -> bool:
            token.run_sync_soon(scope.cancel)
            return True

        if not future._claim(cancel_scope):
            return
        self._scopes.add(scope)
        # trio copies the spawning context into the new task.
        if context is None:
            self._nursery.start_soon(self._run_task, fn, args, kwargs, future, scope)
        else:
            context.run(self._nursery.start_soon, self._run_task, fn, args, kwargs, future, scope)

    async def _run_task(
        self,
        fn: CoroutineFunction,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        future: Unfuture[Any],
        scope: trio.CancelScope,
    ) -> None:
        try:
            with scope:
                try:
                    value = await fn(*args, **kwargs)
                except self._trio.Cancelled:
                    future._set_cancelled()
                    raise
                except BaseException as exc:
                    future._settle("finished", None, exc)
                    return
                future._settle("finished", value, None)
        finally:
            self._scopes.discard(scope)
            if scope.cancelled_caught:
                future._set_cancelled()
            if not self._scopes and self._all_done is not None:
                self._all_done.set()

    async def aclose(self, cancel: bool, grace_period: float | None) -> None:
        trio = self._trio
        assert self._nursery is not None
        if not cancel and self._scopes:
            self._all_done = trio.Event()
            with trio.move_on_after(math.inf if grace_period is None else grace_period):
                await self._all_done.wait()
        self._nursery.cancel_scope.cancel()
        self._closing.set()


def make_spawner(backend: str) -> TaskSpawner:
    """The spawner for ``backend`` ("asyncio" or "trio")."""
    if backend == "trio":
        return TrioSpawner()
    return AsyncioSpawner()
