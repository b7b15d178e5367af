"""The child side of `ProcessWorkers`: a loop that runs the calls its parent sends.

A worker is started as ``python -u -c <bootstrap>`` and talks to its parent
through its standard input and output, in messages as `_wire` frames them
(with a Unix socket beside the pipes, for the memory files of large buffers).
It first moves those two pipes to other descriptors, so whatever the user's
code prints reaches the parent's standard output and ``input()`` reads end
of file instead of corrupting the conversation.  It exits as soon as its
parent has gone, even in the middle of a call.

Messages from the parent: one ``(sys.path, main_path)`` set-up, then
``(FunctionReference, args, kwargs)`` calls.  Each call is answered with
``(True, result)`` or ``(False, exception)``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import runpy
import select
import signal
import socket
import sys
import threading
import traceback
import types
from typing import Any

from ._wire import Message, out_of_band


def serve(parent_stdout: int | None, descriptors: int | None = None, glibc_tunables: str | None = None) -> None:
    """Answer calls until the parent closes our standard input.

    ``parent_stdout`` is a copy of the parent's standard output (None: print to
    standard error), ``descriptors`` our end of the socket over which memory
    files come and go (None where there are none), ``glibc_tunables`` the
    parent's ``GLIBC_TUNABLES`` (our own were read as we started).
    """
    _restore_environment("GLIBC_TUNABLES", glibc_tunables)
    with (
        os.fdopen(os.dup(0), "rb") as requests,
        os.fdopen(os.dup(1), "wb") as replies,
        socket.socket(fileno=descriptors) if descriptors is not None else contextlib.nullcontext() as files,
    ):
        _free_standard_streams(parent_stdout)
        answering = threading.Event()
        _end_with_parent(requests.fileno(), answering)
        # Ctrl-C reaches the whole process group; the parent handles it and then
        # stops its workers, so a worker printing its own KeyboardInterrupt is noise.
        signal.signal(signal.SIGINT, signal.SIG_IGN)

        set_up = Message.read_from(requests, files)
        if set_up is None:
            return
        set_up_failure = _adopt_parent_environment(*set_up.unpack())
        while (request := Message.read_from(requests, files)) is not None:
            answering.set()
            try:
                reply = _answer(request) if set_up_failure is None else _failure(*set_up_failure)
            finally:
                # Before the answer goes out: a parent that has it may stop us at
                # once, and the watch must then leave our exit to this thread.
                answering.clear()
            try:
                reply.write_to(replies, files)
            except BrokenPipeError:
                return  # the parent is gone; nobody is waiting for this answer


def _end_with_parent(requests: int, answering: threading.Event) -> None:
    """Exit at once, in the middle of a call, when the parent's end of our requests pipe closes.

    The parent closes it when it dies, however it dies (SIGKILL included), or
    when it stops this worker; a call still running then has nobody to
    answer.  A worker between calls is left to end by itself, as its read
    finds the end of the pipe: exiting here too would race with that exit
    (and with whatever its interpreter runs at exit).  The pipe stays open
    while a process forked from the parent holds it.
    """
    if not hasattr(select, "poll"):
        return  # Windows: the worker ends once its call ends and it finds the pipe closed

    def watch() -> None:
        hangup = select.poll()
        hangup.register(requests, 0)  # poll reports the hang-up (POLLHUP) whatever the mask
        while True:
            # Without a timeout, poll returns only with the hang-up (from then on at once), and
            # it retries by itself when interrupted: signal handlers never run in this thread.
            hangup.poll()
            if answering.is_set():
                os._exit(0)
            # Between calls the main thread is ending the worker; a call
            # it had just read when the parent died ends here, next round.
            answering.wait(0.1)

    threading.Thread(target=watch, name="unsync-parent-watch", daemon=True).start()


def _restore_environment(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _free_standard_streams(parent_stdout: int | None) -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    # Without the parent's standard output (Windows), prints go to standard error.
    os.dup2(2 if parent_stdout is None else parent_stdout, 1)
    if parent_stdout is not None:
        os.close(parent_stdout)


def _adopt_parent_environment(path: list[str], main_path: str | None) -> tuple[BaseException, str] | None:
    """Take the parent's import path and script; if the script fails, what every call's reply reports."""
    sys.path[:] = path
    if not main_path or not os.path.isfile(main_path):
        return None
    # Like multiprocessing's spawn: run the parent's script under another name,
    # so its `if __name__ == "__main__":` block stays put, and make it
    # importable as __main__ for functions and classes defined there.
    main = types.ModuleType("__mp_main__")
    sys.modules["__main__"] = sys.modules["__mp_main__"] = main
    try:
        main.__dict__.update(runpy.run_path(main_path, run_name="__mp_main__"))
    except BaseException as exc:
        _add_worker_traceback(exc)
        exc.add_note(f"(raised while the worker ran {main_path} to find the functions defined there)")
        return exc, main_path
    return None


def _answer(request: Message) -> Message:
    name = "the function"
    try:
        reference, args, kwargs = request.unpack()
        name = f"{reference.qualname}()"
        result = reference.resolve()(*args, **kwargs)
    except BaseException as exc:
        # SystemExit too: like ProcessPoolExecutor, it is the caller's exception
        # and the worker stays.
        _add_worker_traceback(exc)
        return _failure(exc, name)
    try:
        return Message.pack((True, out_of_band(result)))
    except Exception as exc:
        problem = TypeError(f"the result of {name} cannot be sent back from its worker process: {exc}")
        return Message(pickle.dumps((False, problem), protocol=5))


def _add_worker_traceback(exc: BaseException) -> None:
    # Tracebacks do not pickle; a note does, and shows where it really happened.
    exc.add_note(f"Traceback in the worker process (pid {os.getpid()}):\n{traceback.format_exc()}")


def _failure(exc: BaseException, name: str) -> Message:
    """The reply that reports ``exc``, pickled whole (an exception's buffers are never large)."""
    try:
        pickled = pickle.dumps((False, exc), protocol=5)
        pickle.loads(pickled)  # an exception class with a custom __init__ may not come back
        return Message(pickled)
    except Exception as problem:
        stand_in: Any = RuntimeError(
            f"{name} raised {type(exc).__qualname__}: {exc}, "
            f"which cannot be sent back from its worker process ({problem})"
        )
        for note in getattr(exc, "__notes__", ()):
            stand_in.add_note(note)
        return Message(pickle.dumps((False, stand_in), protocol=5))
