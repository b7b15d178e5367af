"""The child side of `ProcessWorkers`: a loop that runs the calls its parent sends.

A worker is started as ``python -u -c <bootstrap>`` and talks to its parent
through its standard input and output, each message a length header and a
pickle.  It first moves those two pipes to other descriptors, so whatever the
user's code prints reaches the parent's standard output and ``input()`` reads
end of file instead of corrupting the conversation.

Messages from the parent: one ``(sys.path, main_path)`` set-up, then
``(FunctionReference, args, kwargs)`` calls.  Each call is answered with
``(True, result)`` or ``(False, exception)``.
"""

from __future__ import annotations

import os
import pickle
import runpy
import signal
import struct
import sys
import traceback
import types
from typing import IO, Any

HEADER = struct.Struct(">Q")  # the length of the pickle that follows


def frame(payload: bytes) -> bytes:
    """A message as it travels between parent and worker."""
    return HEADER.pack(len(payload)) + payload


def serve(parent_stdout: int | None) -> None:
    """Answer calls until the parent closes our standard input."""
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    _free_standard_streams(parent_stdout)
    # Ctrl-C reaches the whole process group; the parent handles it and then
    # stops its workers, so a worker printing its own KeyboardInterrupt is noise.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    set_up = _read_message(requests)
    if set_up is None:
        return
    set_up_failure = _adopt_parent_environment(*pickle.loads(set_up))
    while (request := _read_message(requests)) is not None:
        try:
            replies.write(frame(set_up_failure or _answer(request)))
            replies.flush()
        except BrokenPipeError:
            return  # the parent is gone; nobody is waiting for this answer


def _free_standard_streams(parent_stdout: int | None) -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    # Without the parent's standard output (Windows), prints go to standard error.
    os.dup2(2 if parent_stdout is None else parent_stdout, 1)
    if parent_stdout is not None:
        os.close(parent_stdout)


def _read_message(stream: IO[bytes]) -> bytes | None:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (size,) = HEADER.unpack(header)
    return stream.read(size)


def _adopt_parent_environment(path: list[str], main_path: str | None) -> bytes | None:
    """Take the parent's import path and script; the failure reply for every call if the script fails."""
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
        return _pickled_failure(exc, main_path)
    return None


def _answer(request: bytes) -> bytes:
    name = "the function"
    try:
        reference, args, kwargs = pickle.loads(request)
        name = f"{reference.qualname}()"
        result = reference.resolve()(*args, **kwargs)
    except BaseException as exc:
        # SystemExit too: like ProcessPoolExecutor, it is the caller's exception
        # and the worker stays.
        _add_worker_traceback(exc)
        return _pickled_failure(exc, name)
    try:
        return pickle.dumps((True, result), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        problem = TypeError(f"the result of {name} cannot be sent back from its worker process: {exc}")
        return pickle.dumps((False, problem), protocol=pickle.HIGHEST_PROTOCOL)


def _add_worker_traceback(exc: BaseException) -> None:
    # Tracebacks do not pickle; a note does, and shows where it really happened.
    exc.add_note(f"Traceback in the worker process (pid {os.getpid()}):\n{traceback.format_exc()}")


def _pickled_failure(exc: BaseException, name: str) -> bytes:
    try:
        pickled = pickle.dumps((False, exc), protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(pickled)  # an exception class with a custom __init__ may not come back
        return pickled
    except Exception as problem:
        stand_in: Any = RuntimeError(
            f"{name} raised {type(exc).__qualname__}: {exc}, "
            f"which cannot be sent back from its worker process ({problem})"
        )
        for note in getattr(exc, "__notes__", ()):
            stand_in.add_note(note)
        return pickle.dumps((False, stand_in), protocol=pickle.HIGHEST_PROTOCOL)
