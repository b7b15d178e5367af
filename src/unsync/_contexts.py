"""Async context managers entered from sync code (``with``) or from any event loop (``async with``).

`UnsyncContext` runs the wrapped manager's ``__aenter__`` and ``__aexit__`` in
ONE task on the ambient loop, as anyio's
``BlockingPortal.wrap_async_context_manager`` does: a manager that opens a
task group or a cancel scope must leave it in the task that entered it.
The task enters the manager, hands the value over through an `Unfuture`,
waits (on another Unfuture) for the body's outcome, and passes the body's
exception to ``__aexit__``, whose answer (suppress or not) travels back the
same way.  Unfutures block in sync code and await on any loop, so the same
object serves ``with`` in any thread and ``async with`` on asyncio or trio.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Generic, TypeVar

from ._anyio_portal import ambient_loop
from ._future import Unfuture, set_context_hook, set_outcome

__all__ = ["UnsyncContext", "context_runner", "is_async_context_manager_function"]

T_co = TypeVar("T_co", covariant=True)


def is_async_context_manager(candidate: object) -> bool:
    return callable(getattr(candidate, "__aenter__", None)) and callable(getattr(candidate, "__aexit__", None))


class Session:
    """One use of a manager: the hand-overs between its task and the code in the ``with`` block."""

    __slots__ = ("body_outcome", "entered", "exited")

    def __init__(self) -> None:
        self.entered: Unfuture[Any] = Unfuture()
        # The body's exception (or None), sent when the block ends.
        self.body_outcome: Unfuture[BaseException | None] = Unfuture()
        self.exited: Unfuture[bool] = Unfuture()

    def abandon(self, task: Unfuture[None]) -> None:
        """If the task was cancelled (the loop stopped before it ran, or under the block), say so to the block."""
        if task.cancelled():
            self.entered.cancel()
            self.exited.cancel()


async def hold(manager: AbstractAsyncContextManager[Any], session: Session) -> None:
    """Enter ``manager``, wait for the body to end, and exit it, all in this one task.

    Every outcome goes to the code in the block through the session, so the
    task itself ends quietly, or cancelled if the ambient loop stops under the block.
    """
    try:
        value = await manager.__aenter__()
    except BaseException as exc:
        set_outcome(session.entered, None, exc)
        return
    if not set_outcome(session.entered, value, None):
        # The code entering was cancelled or interrupted meanwhile: nobody
        # will run a body, so exit at once.
        with contextlib.suppress(BaseException):
            await manager.__aexit__(None, None, None)
        return
    del value
    try:
        error = await session.body_outcome
    except BaseException as stopping:
        # The ambient loop is stopping under the block: the manager exits now, and the block's
        # end raises CancelledError (Session.abandon), as when the loop stops before the manager
        # is entered.  The manager's answer is about the stop, so it cannot suppress the body's error.
        with contextlib.suppress(BaseException):
            await manager.__aexit__(type(stopping), stopping, stopping.__traceback__)
        raise
    try:
        if error is None:
            suppress = await manager.__aexit__(None, None, None)
        else:
            suppress = await manager.__aexit__(type(error), error, error.__traceback__)
    except BaseException as exc:
        set_outcome(session.exited, None, exc)
    else:
        set_outcome(session.exited, bool(suppress), None)
    finally:
        del error


class UnsyncContext(Generic[T_co]):
    """An async context manager usable in ``with`` from sync code and in ``async with`` on any loop.

    Its ``__aenter__`` and ``__aexit__`` run on the ambient loop, in one
    task; an exception in the block reaches ``__aexit__``, which may
    suppress it as usual.  Made by `unsync.context`, or by ``with`` on the
    Unfuture of an ``@unsync`` call that returns an async context manager.
    Each is used once, like the manager it wraps.

        >>> import contextlib, unsync
        >>> log = []
        >>> @unsync.unsync
        ... @contextlib.asynccontextmanager
        ... async def transaction(name: str):
        ...     log.append("begin")
        ...     yield name
        ...     log.append("commit")
        >>> with transaction("t1") as name:
        ...     log.append(f"inside {name}")
        >>> log
        ['begin', 'inside t1', 'commit']
    """

    __slots__ = ("_manager", "_session")

    def __init__(self, manager: AbstractAsyncContextManager[T_co]) -> None:
        if not is_async_context_manager(manager):
            raise TypeError(
                f"unsync.context() needs an async context manager (with __aenter__ and __aexit__), not {manager!r}"
            )
        self._manager = manager
        self._session: Session | None = None

    def _start(self) -> Session:
        if self._session is not None:
            raise RuntimeError(f"{self!r} was already entered; wrap a new async context manager for each use")
        session = self._session = Session()
        ambient_loop.submit(hold, (self._manager, session), {}).add_done_callback(session.abandon)
        return session

    def _body_ended(self, error: BaseException | None) -> Unfuture[bool]:
        session = self._session
        if session is None or not session.entered.done():
            raise RuntimeError(f"{self!r} was not entered")
        set_outcome(session.body_outcome, error, None)  # not awaited any more if the loop stopped under the block
        return session.exited

    # -- sync ------------------------------------------------------------------

    def __enter__(self) -> T_co:
        entered = self._start().entered
        try:
            return entered.result()  # type: ignore[no-any-return]
        except BaseException:
            entered.cancel()  # interrupted while entering: the task exits the manager once entered
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        return self._body_ended(exc).result()

    # -- async -------------------------------------------------------------------

    async def __aenter__(self) -> T_co:
        entered = self._start().entered
        try:
            return await entered  # type: ignore[no-any-return]
        except BaseException:
            entered.cancel()
            raise

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        exited = self._body_ended(exc)
        # Shielded, as a cleanup: the block ends once the manager has exited,
        # even in a cancelled task.  Awaited through another Unfuture, so that
        # a cancellation that gets through (asyncio's task.cancel()) leaves
        # the exit going on to its end on the ambient loop.
        waiter: Unfuture[None] = Unfuture()
        exited.add_done_callback(lambda _: set_outcome(waiter, None, None))
        import anyio  # here, not at `import unsync`: a cold start would pay for it

        with anyio.CancelScope(shield=True):
            await waiter
        return exited.result()

    def __repr__(self) -> str:
        return f"<UnsyncContext of {self._manager!r}>"


class UnfutureContext:
    """``with`` / ``async with`` on an Unfuture whose value is an async context manager.

    The Unfuture is waited for (blocking, or awaited), then its value is
    entered through an `UnsyncContext`, kept here for the exit.
    """

    __slots__ = ("_context", "_future", "_lock")

    def __init__(self, future: Unfuture[Any]) -> None:
        self._future = future
        self._context: UnsyncContext[Any] | None = None
        self._lock = threading.Lock()

    def _wrap(self, manager: Any) -> UnsyncContext[Any]:
        with self._lock:
            if self._context is not None:
                raise RuntimeError(f"{self._future!r} was already entered: its context manager is used once")
            if not is_async_context_manager(manager):
                raise TypeError(
                    f"`with` and `async with` on an Unfuture enter the async context manager that its call "
                    f"returned, and this call returned {manager!r}, which has no __aenter__ and __aexit__"
                )
            self._context = UnsyncContext(manager)
            return self._context

    def _entered(self) -> UnsyncContext[Any]:
        if self._context is None:
            raise RuntimeError(f"{self._future!r} was not entered")
        return self._context

    def __enter__(self) -> Any:
        return self._wrap(self._future.result()).__enter__()

    def __exit__(self, *exc_info: Any) -> bool:
        return self._entered().__exit__(*exc_info)

    async def __aenter__(self) -> Any:
        return await self._wrap(await self._future).__aenter__()

    async def __aexit__(self, *exc_info: Any) -> bool:
        return await self._entered().__aexit__(*exc_info)


_contexts_of_unfutures: weakref.WeakKeyDictionary[Unfuture[Any], UnfutureContext] = weakref.WeakKeyDictionary()
_contexts_lock = threading.Lock()


def context_of(future: Unfuture[Any]) -> UnfutureContext:
    """The one `UnfutureContext` of ``future`` (the context hook of `Unfuture`)."""
    with _contexts_lock:
        found = _contexts_of_unfutures.get(future)
        if found is None:
            found = _contexts_of_unfutures[future] = UnfutureContext(future)
        return found


set_context_hook(context_of)


async def _probe() -> AsyncIterator[None]:
    yield


# Every function that contextlib.asynccontextmanager makes runs the same code
# object (its inner helper): comparing it is how a decorated function is
# recognised, without reading anything private.
ASYNCCONTEXTMANAGER_CODE = contextlib.asynccontextmanager(_probe).__code__


def is_async_context_manager_function(fn: Callable[..., Any]) -> bool:
    """True for a function made by `contextlib.asynccontextmanager`."""
    return getattr(fn, "__code__", None) is ASYNCCONTEXTMANAGER_CODE


def context_runner(
    fn: Callable[..., AbstractAsyncContextManager[Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    into: Unfuture[Any] | None,
) -> UnsyncContext[Any]:
    """How a call to an ``asynccontextmanager`` function runs: its manager, made here, wrapped."""
    # Making the manager only calls the generator function, which runs none of its body.
    context: UnsyncContext[Any] = UnsyncContext(fn(*args, **kwargs))
    if into is not None:
        set_outcome(into, context, None)
    return context
