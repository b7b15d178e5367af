"""The ``unsync`` decorator: options, classification, the method descriptor and typing.

A decorated callable is classified once, when decorated:

* ``async def`` (or anything whose call makes a coroutine) runs as a task on
  the ambient loop;
* a plain callable runs in a worker thread;
* a plain callable marked ``cpu_bound=True`` runs in a worker process.

Whatever the kind, a call returns an `Unfuture` at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from . import _exit
from ._anyio_portal import ambient_loop
from ._by_reference import FunctionReference
from ._compat import adopt, step_with_value_hint
from ._contexts import UnsyncContext, context_runner, is_async_context_manager_function
from ._future import Unfuture, install_continuation_runner, set_source_adapter
from ._limits import Limiter, RunsIn
from ._returning import Returning
from ._streams import DEFAULT_READ_AHEAD, UnsyncStream, check_read_ahead, generator_kind, stream_runner
from ._workers import ThreadWorkers, run_in_thread

__all__ = [
    "BoundUnsyncFunction",
    "Unsync",
    "UnsyncFunction",
    "UnsyncMethod",
    "context",
    "shutdown",
    "unsync",
    "use_backend",
]

if TYPE_CHECKING:
    import anyio.lowlevel  # not at import: a cold start would pay for anyio

P = ParamSpec("P")
P2 = ParamSpec("P2")
T = TypeVar("T")
S = TypeVar("S")

# runner(fn, args, kwargs, into): run the call, settling ``into`` (or a new Unfuture), and return that.
Runner = Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any], Unfuture[Any] | None], Unfuture[Any]]

OPTIONS = ("cpu_bound", "limit", "read_ahead")


class _Executors:
    """Where sync and cpu_bound work goes; read at every call, so changes apply at once."""

    def __init__(self) -> None:
        self.thread: concurrent.futures.Executor = ThreadWorkers()
        self._process: concurrent.futures.Executor | None = None

    @property
    def process(self) -> concurrent.futures.Executor:
        # The default pool is made on first use, so that `import unsync` loads no process code.
        if self._process is None:
            from ._processes import ProcessWorkers

            self._process = ProcessWorkers()
        return self._process

    @process.setter
    def process(self, executor: concurrent.futures.Executor) -> None:
        self._process = executor


executors = _Executors()


def is_coroutine_callable(fn: Callable[..., Any]) -> bool:
    """True if calling ``fn`` makes a coroutine (functions, partials, callable objects)."""
    if inspect.iscoroutinefunction(fn):
        return True
    # A callable object whose __call__ is an ``async def``.
    return not inspect.isroutine(fn) and inspect.iscoroutinefunction(type(fn).__call__)


def _run_in_thread(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], into: Unfuture[Any] | None
) -> Unfuture[Any]:
    return run_in_thread(executors.thread, fn, args, kwargs, into)


def _run_in_process(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], into: Unfuture[Any] | None
) -> Unfuture[Any]:
    # A bound method travels as its function plus the instance.
    instance = getattr(fn, "__self__", None)
    if instance is not None and hasattr(fn, "__func__"):
        fn, args = fn.__func__, (instance, *args)
    from ._processes import run_in_process

    return run_in_process(executors.process, FunctionReference.to(fn), args, kwargs, into)


def runner_for(fn: Callable[..., Any], *, cpu_bound: bool = False, read_ahead: int | None = None) -> Runner:
    """How calls to ``fn`` are run, decided once."""
    kind = generator_kind(fn)
    if kind is not None:
        if cpu_bound:
            raise TypeError(
                f"cpu_bound=True cannot apply to the generator function {_name_of(fn)}: a stream's items cannot "
                "come from a worker process; drop cpu_bound to stream from a worker thread, or have the generator "
                "yield the Unfutures of calls to a cpu_bound function"
            )
        return stream_runner(kind, DEFAULT_READ_AHEAD if read_ahead is None else read_ahead, _run_in_thread)
    if read_ahead is not None:
        raise TypeError(
            f"read_ahead applies to generator functions (their calls return streams), and {_name_of(fn)} is not one"
        )
    if is_async_context_manager_function(fn):
        if cpu_bound:
            raise TypeError(
                f"cpu_bound=True cannot apply to the async context manager function {_name_of(fn)}: "
                "it is entered and exited on the event loop; drop cpu_bound"
            )
        return context_runner  # type: ignore[return-value]  # its calls return an UnsyncContext
    if is_coroutine_callable(fn):
        if cpu_bound:
            raise TypeError(
                f"cpu_bound=True cannot apply to the coroutine function {_name_of(fn)}: "
                "coroutines run on the event loop; use a plain `def` for work in a process"
            )
        return ambient_loop.submit
    return _run_in_process if cpu_bound else _run_in_thread


def _name_of(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


class UnsyncFunction(Generic[P, T]):
    """A callable decorated with ``@unsync``: each call returns an `Unfuture`.

    It keeps the wrapped callable's name, docstring and attributes, with the
    original as ``__wrapped__``, and binds to instances exactly as the
    original would (functions become methods; builtins and partials do not).

        >>> from unsync import unsync
        >>> @unsync
        ... async def double(x: int) -> int:
        ...     return 2 * x
        >>> double(21).result()
        42
    """

    __unsync_wrapper__ = True
    __wrapped__: Callable[..., Any]

    def __init__(self, fn: Callable[P, Any], runner: Runner, limiter: Limiter | None = None) -> None:
        functools.update_wrapper(self, fn)
        self._runner = runner
        if runner is _run_in_process:
            # Fail at the call, with the reason, if no worker could import fn.
            try:
                FunctionReference.to(fn)
            except TypeError as exc:
                self._runner = functools.partial(_raise_unpicklable, exc)
                return
        if limiter is not None:
            runs_in: RunsIn = (
                "thread" if runner is _run_in_thread else "process" if runner is _run_in_process else "task"
            )
            self._runner = functools.partial(limiter.run, runner, runs_in=runs_in)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Unfuture[T]:
        return self._runner(self.__wrapped__, args, kwargs, None)

    def _call_into(self, future: Unfuture[Any], *args: Any) -> None:
        """Call, settling ``future`` (a continuation's Unfuture) rather than a new one."""
        self._runner(self.__wrapped__, args, {}, future)

    # Read from a class or an instance, it may be a method (bound on instances),
    # or sit under @classmethod (bound to the class) or @staticmethod (never
    # bound).  mypy picks a __get__ overload by the instance alone and calls
    # __get__ even under @staticmethod, so no overload can tell these apart for
    # both checkers: what they see accepts the arguments with or without the first.
    @overload
    def __get__(
        self: UnsyncFunction[Concatenate[S, P2], T], instance: object, owner: type[Any] | None = None
    ) -> UnsyncMethod[P, P2, T]: ...
    @overload
    def __get__(self, instance: object, owner: type[Any] | None = None) -> UnsyncFunction[P, T]: ...
    def __get__(self, instance: Any, owner: type[Any] | None = None) -> Any:
        if instance is None:
            return self
        bind = getattr(type(self.__wrapped__), "__get__", None)
        if bind is None:
            return self
        return BoundUnsyncFunction(self, bind(self.__wrapped__, instance, owner))

    def __repr__(self) -> str:
        return f"<unsync {_name_of(self.__wrapped__)}>"

    def __reduce__(self) -> str | tuple[Any, ...]:
        # Pickled by reference, like the function it stands in for.
        return (_resolve_reference, (FunctionReference.to(self.__wrapped__),))


def _resolve_reference(reference: FunctionReference) -> Any:
    module = __import__(reference.module, fromlist=["_"])
    found: Any = module
    for part in reference.qualname.split("."):
        found = getattr(found, part)
    return found


def _raise_unpicklable(
    error: TypeError, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], into: Unfuture[Any] | None
) -> Unfuture[Any]:
    raise TypeError(*error.args)


class UnsyncMethod(Protocol[P, P2, T]):
    """What type checkers see when an `UnsyncFunction` is read from a class or an instance.

    Instance methods, ``@classmethod`` and ``@staticmethod`` over ``@unsync``
    look alike to a type checker at that point, so the call is checked
    against the parameters after the first (a bound method, or a classmethod)
    or against all of them (a staticmethod, or a method read from its class).
    At run time the object is an `UnsyncFunction` or a `BoundUnsyncFunction`.

        >>> from unsync import unsync
        >>> class Store:
        ...     @classmethod
        ...     @unsync
        ...     def open(cls, name: str) -> str:
        ...         return f"{cls.__name__}:{name}"
        >>> Store.open("books").result()
        'Store:books'
    """

    @overload
    def __call__(self, *args: P2.args, **kwargs: P2.kwargs) -> Unfuture[T]: ...
    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Unfuture[T]: ...


class BoundUnsyncFunction(Generic[P, T]):
    """An `UnsyncFunction` bound to an instance (what ``obj.method`` gives).

    It carries the method's name and docstring, and each call returns an `Unfuture`:

        >>> from unsync import unsync
        >>> class Greeter:
        ...     @unsync
        ...     def greet(self, name: str) -> str:
        ...         "Say hello."
        ...         return f"hello {name}"
        >>> Greeter().greet.__doc__
        'Say hello.'
        >>> Greeter().greet("bob").result()
        'hello bob'
    """

    __unsync_wrapper__ = True
    __wrapped__: Callable[..., Any]
    _runner: Runner

    def __init__(self, unbound: UnsyncFunction[Any, T], bound: Callable[P, Any]) -> None:
        # Name, docstring and extra attributes, as on the decorated function.
        self.__dict__.update(unbound.__dict__)
        self._unbound = unbound
        self.__wrapped__ = bound

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Unfuture[T]:
        return self._runner(self.__wrapped__, args, kwargs, None)

    def _call_into(self, future: Unfuture[Any], *args: Any) -> None:
        """Call, settling ``future`` (a continuation's Unfuture) rather than a new one."""
        self._runner(self.__wrapped__, args, {}, future)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BoundUnsyncFunction)
            and self._unbound is other._unbound
            and self.__wrapped__ == other.__wrapped__
        )

    def __hash__(self) -> int:
        return hash((self._unbound, self.__wrapped__))

    def __repr__(self) -> str:
        return (
            f"<bound unsync {_name_of(self._unbound.__wrapped__)} of {getattr(self.__wrapped__, '__self__', None)!r}>"
        )


def use_backend(backend: str, **options: Any) -> None:
    """Choose the ambient loop's backend before it starts; also ``unsync.use_backend``.

    ``backend`` is ``"asyncio"`` (the default) or ``"trio"``; ``options``
    go to anyio's backend options, e.g. ``use_uvloop=True`` or
    ``loop_factory=...`` for asyncio.

        >>> import unsync
        >>> unsync.use_backend("asyncio")

    Raises `ValueError` for an unknown backend and `RuntimeError` if the
    loop already runs with other settings (call `shutdown` first).
    """
    ambient_loop.use_backend(backend, **options)


def shutdown(cancel: bool = True, grace_period: float | None = None) -> None:
    """Stop the ambient loop; the next call starts a fresh one.  Also ``unsync.shutdown``.

    With ``cancel=True`` pending tasks are cancelled (their ``finally``
    blocks run); with ``cancel=False`` they are awaited.  At most
    ``grace_period`` seconds are spent waiting for them.  Interpreter
    exit does this by itself.

        >>> import unsync
        >>> unsync.shutdown()
    """
    ambient_loop.shutdown(cancel=cancel, grace_period=grace_period)


def context(manager: AbstractAsyncContextManager[T]) -> UnsyncContext[T]:
    """Make an async context manager usable in ``with`` from sync code, and in ``async with`` on any loop.

    Entering and exiting run on the ambient loop, in one task:

        >>> import contextlib, unsync
        >>> @contextlib.asynccontextmanager
        ... async def connection(name: str):
        ...     yield f"connected to {name}"
        >>> with unsync.context(connection("db")) as conn:
        ...     conn
        'connected to db'
    """
    return UnsyncContext(manager)


class Unsync:
    """The ``@unsync`` decorator; ``unsync`` is its one instance.

    Decorate an ``async def`` to run it on the ambient loop, a plain function
    to run it in a worker thread, or use ``@unsync(cpu_bound=True)`` to run a
    plain function in a worker process.  Every call returns an `Unfuture`:

        >>> import asyncio
        >>> from unsync import unsync
        >>> @unsync
        ... async def fetch(n: int) -> str:
        ...     await asyncio.sleep(0.01)
        ...     return f"item {n}"
        >>> [f.result() for f in [fetch(1), fetch(2)]]
        ['item 1', 'item 2']

    The attributes ``loop``, ``thread``, ``thread_executor`` and
    ``process_executor`` are kept from unsync 1.4.0.
    """

    def __init__(
        self, *, cpu_bound: bool = False, limit: int | Limiter | None = None, read_ahead: int | None = None
    ) -> None:
        if limit is not None and not isinstance(limit, Limiter):
            Limiter(limit)  # checks the number now, where the decorator is written
        self._cpu_bound = cpu_bound
        self._limit = limit
        self._read_ahead = None if read_ahead is None else check_read_ahead(read_ahead)

    def __repr__(self) -> str:
        options = [f"cpu_bound={self._cpu_bound}"] if self._cpu_bound else []
        if self._limit is not None:
            options.append(f"limit={self._limit!r}")
        return f"unsync({', '.join(options)})" if options else "unsync"

    # Generators first: an async generator function is not a coroutine function.
    @overload
    def __call__(self, fn: Callable[P, AsyncIterator[T]], /) -> Returning[P, UnsyncStream[T]]: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(self, fn: Callable[P, Iterator[T]], /) -> Returning[P, UnsyncStream[T]]: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(self, fn: Callable[P, AbstractAsyncContextManager[T]], /) -> Returning[P, UnsyncContext[T]]: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, T]], /) -> UnsyncFunction[P, T]: ...
    @overload
    def __call__(self, fn: Callable[P, T], /) -> UnsyncFunction[P, T]: ...
    @overload
    def __call__(
        self,
        fn: None = None,
        /,
        *,
        cpu_bound: bool = False,
        limit: int | Limiter | None = None,
        read_ahead: int | None = None,
    ) -> Unsync: ...
    def __call__(self, fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
        if fn is None:
            unknown = sorted(set(options) - set(OPTIONS))
            if unknown:
                raise TypeError(
                    f"unknown unsync option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: "
                    f"the options are {', '.join(map(repr, OPTIONS))}"
                )
            return Unsync(**options)
        if options:
            raise TypeError("pass options as @unsync(cpu_bound=True), not together with the function")
        if isinstance(fn, (classmethod, staticmethod)):
            # @unsync over @classmethod or @staticmethod: the same as the other order.
            return type(fn)(self(fn.__func__))
        if isinstance(fn, property):
            raise TypeError(
                "@unsync cannot make a property: an attribute read cannot return an Unfuture that is "
                "started by the read; decorate a method (`@unsync def load(self): ...`) and call it"
            )
        if not callable(fn):
            raise TypeError(f"@unsync needs a function or other callable, not {type(fn).__name__} {fn!r}")
        if isinstance(fn, (UnsyncFunction, BoundUnsyncFunction)):
            # Refused rather than unwrapped: the two layers' options could disagree.
            raise TypeError(
                f"{fn!r} is already decorated with @unsync: apply @unsync once, "
                "with all its options in that one @unsync(...)"
            )
        runner = runner_for(fn, cpu_bound=self._cpu_bound, read_ahead=self._read_ahead)
        if self._limit is not None and (generator_kind(fn) is not None or is_async_context_manager_function(fn)):
            raise TypeError(
                f"limit applies to calls that return an Unfuture, not to {_name_of(fn)}, whose calls return a "
                "stream or a context manager"
            )
        # An int limit belongs to this one function; a Limiter may be shared.
        limiter = Limiter(self._limit) if isinstance(self._limit, int) else self._limit
        return UnsyncFunction(fn, runner, limiter)

    def __instancecheck__(self, instance: object) -> bool:
        # 1.4.0's `unsync` was a class, so programs test `isinstance(fn, unsync)`;
        # isinstance() looks this method up on the type of its second argument.
        return isinstance(instance, (UnsyncFunction, BoundUnsyncFunction))

    # -- configuration kept from unsync 1.4.0 --------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The ambient asyncio event loop (started if needed); an error under trio."""
        return ambient_loop.asyncio_loop

    @loop.setter
    def loop(self, loop: object) -> None:
        raise TypeError(
            "unsync.loop cannot be assigned: unsync starts and owns its event loop. To choose the loop, call "
            "unsync.use_backend('asyncio', loop_factory=...) before the first call, or set an asyncio event-loop "
            "policy whose new_event_loop() makes it"
        )

    @property
    def thread(self) -> threading.Thread:
        """The thread that runs the ambient loop (started if needed)."""
        return ambient_loop.thread

    @property
    def token(self) -> anyio.lowlevel.EventLoopToken:
        """The ambient loop's `anyio.lowlevel.EventLoopToken`, for ``anyio.from_thread.run(..., token=...)``."""
        return ambient_loop.token

    @property
    def thread_executor(self) -> concurrent.futures.Executor:
        """Where sync functions run; assign any `concurrent.futures.Executor`."""
        return executors.thread

    @thread_executor.setter
    def thread_executor(self, executor: concurrent.futures.Executor) -> None:
        executors.thread = _check_executor(executor, "thread_executor")

    @property
    def process_executor(self) -> concurrent.futures.Executor:
        """Where ``cpu_bound`` functions run; assign any `concurrent.futures.Executor`."""
        return executors.process

    @process_executor.setter
    def process_executor(self, executor: concurrent.futures.Executor) -> None:
        executors.process = _check_executor(executor, "process_executor")

    @property
    def thread_limit(self) -> int:
        """How many worker threads the default pool may run at once (default 40)."""
        return _default_pool(executors.thread, ThreadWorkers, "thread_executor").max_workers

    @thread_limit.setter
    def thread_limit(self, limit: int) -> None:
        _default_pool(executors.thread, ThreadWorkers, "thread_executor").max_workers = _check_limit(limit)

    @property
    def process_limit(self) -> int:
        """How many worker processes the default pool may run at once (default: the CPU count)."""
        from ._processes import ProcessWorkers

        return _default_pool(executors.process, ProcessWorkers, "process_executor").max_workers

    @process_limit.setter
    def process_limit(self, limit: int) -> None:
        from ._processes import ProcessWorkers

        _default_pool(executors.process, ProcessWorkers, "process_executor").max_workers = _check_limit(limit)

    @property
    def exit_grace_period(self) -> float | None:
        """Seconds that interpreter exit waits for thread and ``cpu_bound`` calls that have started (default 5).

        None waits as long as they run.  Calls still running after it are
        abandoned with a warning on the ``unsync`` logger; calls that had not
        started are cancelled, also logged.
        """
        return _exit.state.grace_period

    @exit_grace_period.setter
    def exit_grace_period(self, seconds: float | None) -> None:
        _exit.state.grace_period = _exit.check_grace_period(seconds)

    @staticmethod
    def use_backend(backend: str, **options: Any) -> None:
        """The module-level `use_backend`, kept on the decorator from unsync 1.4.0."""
        use_backend(backend, **options)

    @staticmethod
    def context(manager: AbstractAsyncContextManager[T]) -> UnsyncContext[T]:
        """The module-level `context`, also on the decorator."""
        return context(manager)

    @staticmethod
    def shutdown(cancel: bool = True, grace_period: float | None = None) -> None:
        """The module-level `shutdown`, kept on the decorator from unsync 1.4.0."""
        shutdown(cancel, grace_period)


PoolT = TypeVar("PoolT")


def _default_pool(executor: concurrent.futures.Executor, kind: type[PoolT], name: str) -> PoolT:
    if not isinstance(executor, kind):
        raise TypeError(f"unsync.{name} was replaced by {executor!r}: set its limit on that executor itself")
    return executor


def _check_limit(limit: object) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError(f"a limit must be a whole number of at least 1, not {limit!r}")
    return limit


def _check_executor(executor: Any, name: str) -> concurrent.futures.Executor:
    if not callable(getattr(executor, "submit", None)):
        raise TypeError(
            f"unsync.{name} must be a concurrent.futures.Executor (something with submit()), not {executor!r}"
        )
    return executor  # type: ignore[no-any-return]


def run_continuation(continuation: Callable[..., Any], source: Unfuture[Any], into: Unfuture[Any]) -> None:
    """Call ``continuation(source)`` the way ``@unsync`` would run it, settling ``into``."""
    step = step_with_value_hint(source, into)  # for continuations written for unsync 1.4.0
    if isinstance(continuation, (UnsyncFunction, BoundUnsyncFunction)):
        continuation._call_into(step, source)
    else:
        runner_for(continuation)(continuation, (source,), {}, step)


install_continuation_runner(run_continuation)
set_source_adapter(adopt)

unsync: Unsync = Unsync()
"""The decorator: ``@unsync``, ``@unsync(cpu_bound=True)`` or ``@unsync(limit=4)``; see `Unsync`."""
