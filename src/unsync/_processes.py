"""CPU work in worker processes: the default pool and the route to any executor.

The default pool's workers are fresh interpreters (``_process_worker``),
reused between calls and driven by the ambient loop: a call waits for a free
worker, sends it the function by reference, and reads its answer.  A worker
is killed when the call it runs is cancelled, replaced when it dies, and
stopped when the ambient loop stops.

The loop only moves messages: arguments are pickled in the caller's thread
(in a worker thread if the caller runs an event loop), and a large answer is
unpickled in a worker thread.  Large buffers travel in memory files
(`_wire`), not through the pipes.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import anyio
import anyio.abc
import anyio.lowlevel
import anyio.to_thread
from anyio.streams.buffered import BufferedByteReceiveStream

from . import _exit
from ._anyio_portal import ambient_loop
from ._backends import in_event_loop
from ._by_reference import (
    FunctionReference,
    call_by_reference,
    name_unpicklable_argument,
    refuse_a_call_from_unguarded_main_code,
)
from ._fork import forget_in_child
from ._future import Unfuture
from ._memory_files import SpareMemoryFiles
from ._wire import (
    HEADER,
    SHARES_MEMORY,
    FileNotReceived,
    Message,
    buffer_table_length,
    buffers_from,
    out_of_band,
    parse_header,
    receive_file,
)
from ._workers import submit_into

T = TypeVar("T")

# A worker moves its pipes aside and prints to the descriptor it is handed: a
# copy of our standard output.  The package path lets it start even when
# unsync was put on sys.path at run time; it adopts our whole sys.path next.
_BOOTSTRAP = (
    "import sys; sys.path.insert(0, {package_parent!r}); "
    "from unsync._process_worker import serve; serve({fd}, {descriptors}, {glibc_tunables!r})"
)
# Workers start with glibc's allocator asking for transparent huge pages for
# what it allocates (a no-op where the kernel grants none on request): a
# large argument is copied into a new object of the worker's own, and with
# 2 MiB pages instead of 4 KiB ones the kernel provides that memory several
# times as fast.  A setting of the user's own comes after ours and wins; the
# worker gives its own code and children the environment unchanged.
_HUGE_PAGES = "glibc.malloc.hugetlb=1"
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# How long a worker that hung up may take to exit, so its exit code can be reported.
_EXIT_GRACE = 5.0
# How long idle workers may take to exit when the loop stops.  They exit as soon
# as their input ends, unless a forked child of ours still holds that pipe open.
_STOP_GRACE = 1.0
_PIPE_BROKEN = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, anyio.IncompleteRead, OSError)


class WorkerProcessDied(RuntimeError):
    """The worker process running a ``cpu_bound`` call died before it answered.

    Only the calls that worker was running fail; the next call gets a fresh
    worker:

    ```python
    try:
        result = simulate(seed).result()
    except unsync.WorkerProcessDied:
        result = simulate(seed).result()  # one retry, on a new worker
    ```
    """


class _Worker:
    """One worker process, the two pipes its parent talks to it through, and the socket for memory files."""

    __slots__ = ("files", "process", "replies", "requests")

    def __init__(self, process: anyio.abc.Process, files: socket.socket | None) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process = process
        self.requests = process.stdin
        self.replies = BufferedByteReceiveStream(process.stdout)
        self.files = files

    async def send(self, *messages: Message) -> None:
        for message in messages:
            message.pass_file(self.files)
        await self.requests.send(b"".join(message.header() + message.payload for message in messages))

    async def receive(self) -> Message:
        length, count, lent = parse_header(await self.replies.receive_exactly(HEADER.size))
        buffers = buffers_from(await self.replies.receive_exactly(buffer_table_length(count))) if count else ()
        payload = await self.replies.receive_exactly(length) if length else b""
        # The worker passed the memory file before it wrote the message.
        return Message(payload, buffers, receive_file(self.files) if count else None, lent=lent)

    def close_socket(self) -> None:
        # A memory file passed but never received is freed with the socket.
        if self.files is not None:
            self.files.close()

    async def kill(self) -> None:
        try:
            with anyio.CancelScope(shield=True):
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.aclose()
        finally:
            self.close_socket()

    async def close(self, grace_period: float = _EXIT_GRACE) -> int | None:
        """End the worker's input so it exits, kill it if it has not after ``grace_period``; its exit code."""
        # Killing a worker that already exited is worse than useless on asyncio:
        # the kill polls the process, and a poll that reaps it first leaves the
        # child watcher reporting 255 and logging a warning.
        try:
            with anyio.CancelScope(shield=True), anyio.move_on_after(grace_period):
                await self.process.aclose()  # it kills the process itself when the wait times out
        finally:
            self.close_socket()
        return self.process.returncode


class _PoolOnLoop:
    """The workers of one `ProcessWorkers` on one run of the ambient loop."""

    def __init__(self) -> None:
        self.busy = 0  # slots given to calls, of ProcessWorkers.max_workers
        self.idle: list[_Worker] = []
        self.workers: set[_Worker] = set()
        ambient_loop.on_stop(self.close)
        # Classes pickled by workers that ran our script as __mp_main__ name that module.
        sys.modules.setdefault("__mp_main__", sys.modules["__main__"])

    async def call(self, reference: FunctionReference, request: Message, max_workers: int) -> Message:
        """Run one call on an idle worker, or a new one, and return its reply."""
        while True:
            if self.idle:
                worker, messages = self.idle.pop(), [request]
            else:
                worker, messages = await self._start_worker(), [self._set_up_message(), request]
            try:
                await worker.send(*messages)
            except _PIPE_BROKEN:
                if len(messages) == 1:
                    # It died while idle, before it saw this call: try another.
                    await self._retire(worker, worker.close())
                    continue
                # A new worker that could not take the call: its exit code is reported below.
            except BaseException:
                await self._retire(worker, worker.kill())  # a half-sent call would confuse it
                raise
            reply = await self._reply(worker, reference, max_workers)
            request.give_back()  # the worker read its arguments before it answered
            return reply

    async def _start_worker(self) -> _Worker:
        parent_stdout = _copy_of_stdout()
        ours, theirs = socket.socketpair() if SHARES_MEMORY else (None, None)
        their_files = None if theirs is None else theirs.fileno()
        handed = [fd for fd in (parent_stdout, their_files) if fd is not None]
        glibc_tunables = os.environ.get("GLIBC_TUNABLES")
        bootstrap = _BOOTSTRAP.format(
            package_parent=_PACKAGE_PARENT, fd=parent_stdout, descriptors=their_files, glibc_tunables=glibc_tunables
        )
        try:
            process = await anyio.open_process(
                [sys.executable, "-u", "-c", bootstrap],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=None,
                pass_fds=handed,
                env=_worker_environment(glibc_tunables),
            )
        except BaseException:
            if ours is not None:
                ours.close()
            raise
        finally:
            if parent_stdout is not None:
                os.close(parent_stdout)
            if theirs is not None:
                theirs.close()
        if ours is not None:
            ours.setblocking(False)  # a memory file is always there before its message
        worker = _Worker(process, ours)
        self.workers.add(worker)
        return worker

    @staticmethod
    def _set_up_message() -> Message:
        main_path = getattr(sys.modules["__main__"], "__file__", None)
        return Message.pack((sys.path, main_path))

    async def _reply(self, worker: _Worker, reference: FunctionReference, max_workers: int) -> Message:
        try:
            reply = await worker.receive()
        except FileNotReceived as exc:
            # The whole answer was read: the worker is fine, only its result is lost.
            await self._keep(worker, max_workers)
            raise OSError(
                exc.errno,
                f"the result of {reference.qualname}() came back from its worker process, but this process "
                f"could not open the memory file it came in: {exc.strerror}",
            ) from None
        except _PIPE_BROKEN:
            raise WorkerProcessDied(
                f"the worker process running {reference.qualname}() died before it answered, "
                f"with exit code {await self._retire(worker, worker.close())} (a crash, os._exit(), or killed, "
                "e.g. by the out-of-memory killer); the next call starts a fresh worker"
            ) from None
        except BaseException:
            # Cancelled while the function runs: only killing the worker stops it.
            await self._retire(worker, worker.kill())
            raise
        await self._keep(worker, max_workers)
        return reply

    async def _keep(self, worker: _Worker, max_workers: int) -> None:
        """Make a worker that has answered idle again, or stop it if it is surplus since the limit was lowered."""
        if len(self.workers) > max_workers:
            await self._retire(worker, worker.close())
        else:
            self.idle.append(worker)

    async def _retire(self, worker: _Worker, ending: Coroutine[Any, Any, T]) -> T:
        """Await the end of a worker (``worker.kill()`` or ``worker.close()``), then forget it.

        If the ending is interrupted (on asyncio a second ``Task.cancel()``
        breaks through the shield, as when the loop stops while a cancelled call
        kills its worker), the worker stays in `workers`, so that `close`
        still reaps it before the loop closes: a subprocess transport collected
        after its loop has closed prints an error at exit.
        """
        outcome = await ending
        self.workers.discard(worker)
        return outcome

    async def close(self) -> None:
        """Stop every worker, and let go of the spare memory files; runs when the ambient loop stops."""
        self.idle.clear()
        spare_files.clear()
        async with anyio.create_task_group() as workers_closing:
            for worker in self.workers:
                workers_closing.start_soon(worker.close, _STOP_GRACE)
        self.workers.clear()


def _worker_environment(glibc_tunables: str | None) -> dict[str, str] | None:
    """Our environment with `_HUGE_PAGES` added, where large buffers travel in memory files; None: ours."""
    if not SHARES_MEMORY:
        return None
    return {
        **os.environ,
        "GLIBC_TUNABLES": _HUGE_PAGES if glibc_tunables is None else f"{_HUGE_PAGES}:{glibc_tunables}",
    }


def _copy_of_stdout() -> int | None:
    if os.name != "posix":
        return None  # a child cannot be handed a descriptor there; it prints to stderr
    if sys.__stdout__ is None:
        return None  # started without one: whatever descriptor 1 is now was opened since, for something else
    try:
        return os.dup(1)
    except OSError:
        return None  # we have no standard output to share


# The memory files of large arguments, which workers give back as they answer; shared by every pool.
spare_files = SpareMemoryFiles()


def _pickled_request(reference: FunctionReference, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Message:
    try:
        return Message.pack(
            (reference, tuple(map(out_of_band, args)), {name: out_of_band(value) for name, value in kwargs.items()}),
            lend_from=spare_files,
        )
    except Exception as exc:
        problem = name_unpicklable_argument(reference, args, kwargs)
        if problem is None:
            raise
        raise TypeError(problem) from exc


class ProcessCall:
    """One call to a `ProcessWorkers` pool, from the moment it is made until it has ended."""

    __slots__ = (
        "args",
        "executor_future",
        "failure",
        "has_slot",
        "kwargs",
        "reference",
        "request",
        "turn",
        "unfuture",
        "waits",
    )

    def __init__(
        self,
        reference: FunctionReference,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        unfuture: Unfuture[Any],
        executor_future: concurrent.futures.Future[Any] | None,
    ) -> None:
        self.reference = reference
        self.args = args
        self.kwargs = kwargs
        self.unfuture = unfuture  # the ambient task's
        self.executor_future = executor_future  # submit()'s, kept to the Executor contract
        # Its place in the pool's line (on the loop): a slot given, the event it waits on.
        self.has_slot = False
        self.waits = False
        self.turn: anyio.Event | None = None
        refuse_a_call_from_unguarded_main_code(reference)
        self.request: Message | None = None
        self.failure: Exception | None = None  # why the arguments could not be pickled
        if not in_event_loop():  # which a long pickling would stall
            # Here, in the caller's thread, rather than on the ambient loop.
            try:
                self.request = self.pickled()
            except Exception as exc:
                self.failure = exc

    def pickled(self) -> Message:
        """The request for a worker; the call keeps its arguments no longer."""
        request = _pickled_request(self.reference, self.args, self.kwargs)
        self.args, self.kwargs = (), {}
        return request

    def close(self) -> None:
        """Let go of the request's memory file, if it was never sent."""
        if self.request is not None:
            self.request.close()

    @property
    def name(self) -> str:
        return f"{self.reference.qualname}()"

    def gone(self) -> bool:
        """True if the call will never take a slot: cancelled or ended."""
        return self.unfuture.done() or (self.executor_future is not None and self.executor_future.cancelled())

    def cancel(self) -> None:
        """Cancel a call that waits for a worker: it never runs."""
        if self.executor_future is not None:
            self.executor_future.cancel()
        self.unfuture.cancel()


def _forget_pools_after_fork() -> list[Unfuture[Any] | concurrent.futures.Future[Any]]:
    spare_files.forget_after_fork()
    return [future for pool in list(_pools) for future in pool._forget_after_fork()]


class ProcessWorkers(concurrent.futures.Executor):
    """The default pool for ``cpu_bound`` functions: reusable worker processes.

    Workers are fresh interpreters (like the spawn method) that get the
    caller's ``sys.path`` and print to its standard output.  Calls run through
    the ambient loop, so cancelling a running call terminates its worker, and
    stopping the loop stops the workers.  ``max_workers`` (default: the CPU
    count) is what ``unsync.process_limit`` reads and sets.  As an executor
    it keeps `concurrent.futures.Executor`'s contract:

    ```python
    with ProcessWorkers(max_workers=2) as pool:
        assert pool.submit(math.factorial, 20).result() == 2432902008176640000
    ```
    """

    def __init__(self, max_workers: int | None = None) -> None:
        self._max_workers = max_workers or os.cpu_count() or 1
        self._pool: anyio.lowlevel.RunVar[_PoolOnLoop] = anyio.lowlevel.RunVar(f"unsync process pool {id(self)}")
        self._shut_down = False
        # Calls made and not ended, and which of them run in a worker now.
        self._changed = threading.Condition(threading.Lock())
        self._calls: set[ProcessCall] = set()
        self._running: set[ProcessCall] = set()
        # Calls waiting for a slot, in the order they were made.  Filled by the
        # callers' threads, so the order does not depend on the order in which
        # the loop runs their tasks (random within a batch, under trio).
        self._line: deque[ProcessCall] = deque()
        _exit.pools.add(self)
        _pools.add(self)

    @property
    def max_workers(self) -> int:
        """How many worker processes may run calls at once; raising it starts waiting calls at once."""
        return self._max_workers

    @max_workers.setter
    def max_workers(self, limit: int) -> None:
        self._max_workers = limit
        if self._line:
            with contextlib.suppress(RuntimeError):  # the loop has stopped: nobody waits
                ambient_loop.submit(self._serve_line_soon, (), {})

    def __repr__(self) -> str:
        with self._changed:
            calls, running, shut_down = len(self._calls), len(self._running), self._shut_down
        state = f"max_workers={self.max_workers} running={running} waiting={calls - running}"
        return f"<ProcessWorkers {state}{' shut down' if shut_down else ''}>"

    def run_by_reference(
        self,
        reference: FunctionReference,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        into: Unfuture[Any] | None = None,
        executor_future: concurrent.futures.Future[Any] | None = None,
    ) -> Unfuture[Any]:
        """Run the referenced function in a worker, settling ``into`` (or a new Unfuture)."""
        future: Unfuture[Any] = Unfuture() if into is None else into
        call = ProcessCall(reference, args, kwargs, future, executor_future)
        with self._changed:
            if self._shut_down:
                raise RuntimeError(
                    "cannot run new calls after interpreter shutdown"
                    if _exit.state.exiting
                    else "this process pool has been shut down; it accepts no more work"
                )
            self._calls.add(call)
            self._line.append(call)
        future.add_done_callback(lambda _: self._ended(call))
        return ambient_loop.submit(self._run, (call,), {}, future)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        """Run the module-level function ``fn`` in a worker process."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        task = self.run_by_reference(FunctionReference.to(fn), args, kwargs, executor_future=future)
        # A call cancelled while it waits leaves the line at once.
        future.add_done_callback(lambda done: done.cancelled() and task.cancel())
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting work; with ``cancel_futures`` cancel what waits; with ``wait`` wait for what runs."""
        self._stop_accepting(cancel_waiting=cancel_futures)
        if wait:
            with self._changed:
                self._changed.wait_for(lambda: not self._calls)

    def _forget_after_fork(self) -> list[Unfuture[Any] | concurrent.futures.Future[Any]]:
        # Its calls ran on the parent's loop; the lock may have been held.
        lost = [call.executor_future for call in self._calls if call.executor_future is not None]
        self._changed = threading.Condition(threading.Lock())
        self._calls = set()
        self._running = set()
        self._line = deque()
        return list(lost)

    def _ended(self, call: ProcessCall) -> None:
        call.close()
        with self._changed:
            self._calls.discard(call)
            self._running.discard(call)
            self._changed.notify_all()
            # A call cancelled before its task ran may head the line that later
            # calls wait in: they are served once the loop looks again.
            stalled = not call.waits and bool(self._line) and self._line[0] is call
        if stalled:
            with contextlib.suppress(RuntimeError):  # the loop has stopped: nobody waits
                ambient_loop.submit(self._serve_line_soon, (), {})

    async def _serve_line_soon(self) -> None:
        pool = self._pool.get(None)
        if pool is not None:
            self._serve_line(pool)

    def _serve_line(self, pool: _PoolOnLoop) -> None:
        """On the loop: give free slots to the calls at the head of the line, in order."""
        with self._changed:  # callers' threads join the line meanwhile
            line = self._line
            while line and pool.busy < self.max_workers:
                call = line[0]
                if call.gone():
                    line.popleft()
                elif not call.waits:
                    return  # its task has not reached the line yet: it keeps its place
                else:
                    line.popleft()
                    call.has_slot = True
                    pool.busy += 1
                    assert call.turn is not None
                    call.turn.set()
            # Calls that are gone leave the line; their tasks, if waiting, see it and end.
            for call in [call for call in line if call.gone() and call.turn is not None]:
                line.remove(call)
                assert call.turn is not None
                call.turn.set()

    async def _wait_for_slot(self, pool: _PoolOnLoop, call: ProcessCall) -> bool:
        """Wait in line for a slot; False if the call was cancelled meanwhile."""
        call.turn = anyio.Event()
        call.waits = True
        self._serve_line(pool)
        try:
            await call.turn.wait()
        except BaseException:
            call.waits = False
            if call.has_slot:  # given the slot just as it was cancelled
                self._free_slot(pool, call)
            else:
                with self._changed, contextlib.suppress(ValueError):
                    self._line.remove(call)
                self._serve_line(pool)
            raise
        return call.has_slot

    def _free_slot(self, pool: _PoolOnLoop, call: ProcessCall) -> None:
        call.has_slot = False
        pool.busy -= 1
        self._serve_line(pool)

    async def _run(self, call: ProcessCall) -> Any:
        executor_future = call.executor_future
        try:
            value = await self._run_in_worker(call)
        except BaseException as exc:
            if executor_future is None:
                raise
            if executor_future.running():
                executor_future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise  # a cancellation, or an exit: the task must end as asked
            # The executor's future holds the failure; the task's own Unfuture,
            # which nobody reads, must not report it as never retrieved.
            return None
        if executor_future is not None and executor_future.running():
            executor_future.set_result(value)
        return value

    async def _run_in_worker(self, call: ProcessCall) -> Any:
        reference = call.reference
        if call.failure is not None:
            raise call.failure
        # A caller on an event loop's thread left the pickling to us: off the loop too.
        request = call.request if call.request is not None else await anyio.to_thread.run_sync(call.pickled)
        pool = self._pool.get(None)
        if pool is None:
            pool = _PoolOnLoop()
            self._pool.set(pool)
        if not await self._wait_for_slot(pool, call):
            return None  # submit()'s future was cancelled while it waited: nobody sees this outcome
        try:
            if call.executor_future is not None and not call.executor_future.set_running_or_notify_cancel():
                return None
            with self._changed:
                self._running.add(call)
            reply = await pool.call(reference, request, self.max_workers)
        finally:
            self._free_slot(pool, call)
        try:
            succeeded, outcome = await anyio.to_thread.run_sync(reply.unpack) if reply.is_large else reply.unpack()
        except Exception as exc:
            raise TypeError(
                f"what {reference.qualname}() returned came back from its worker process "
                f"but cannot be unpickled here: {exc}"
            ) from exc
        finally:
            reply.close()
        if succeeded:
            return outcome
        raise outcome

    # -- interpreter exit (see _exit) ------------------------------------------------

    def stop_at_exit(self) -> list[str]:
        return [call.name for call in self._stop_accepting(cancel_waiting=True)]

    def _stop_accepting(self, *, cancel_waiting: bool) -> list[ProcessCall]:
        """Refuse new calls, and cancel those waiting for a worker if asked; those."""
        with self._changed:
            self._shut_down = True
            waiting = list(self._calls - self._running) if cancel_waiting else []
        for call in waiting:
            call.cancel()
        return waiting

    def running_calls(self) -> list[str]:
        with self._changed:
            return [call.name for call in self._running]

    def wait_for_running_calls(self, deadline: float | None) -> None:
        with self._changed:
            self._changed.wait_for(
                lambda: not self._running, None if deadline is None else max(0.0, deadline - time.monotonic())
            )


_pools: weakref.WeakSet[ProcessWorkers] = weakref.WeakSet()
forget_in_child(_forget_pools_after_fork)


def run_in_process(
    executor: concurrent.futures.Executor,
    reference: FunctionReference,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    into: Unfuture[Any] | None = None,
) -> Unfuture[Any]:
    """Run the referenced function through ``executor``; the default pool runs it natively."""
    if isinstance(executor, ProcessWorkers):
        return executor.run_by_reference(reference, args, kwargs, into)
    future: Unfuture[Any] = Unfuture() if into is None else into

    def submit() -> concurrent.futures.Future[Any]:
        try:
            return executor.submit(call_by_reference, reference, args, kwargs)
        except Exception as exc:
            # Executors that pickle at submit time (Dask) fail here; like the
            # default pool, name the argument that could not be pickled.
            problem = name_unpicklable_argument(reference, args, kwargs)
            if problem is None:
                raise
            raise TypeError(problem) from exc

    submit_into(future, submit)
    return future
