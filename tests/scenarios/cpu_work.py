"""Module-level functions for worker processes, which import them by reference."""

import contextlib
import os

from scenarios.executor_work import wait_for_file
from unsync import Limiter, unsync


@unsync(cpu_bound=True)
def worker_pid() -> int:
    return os.getpid()


@unsync(cpu_bound=True)
def sum_of_squares(n: int) -> int:
    return sum(i * i for i in range(n))


@unsync(cpu_bound=True)
def double_the_result(done: "object") -> int:
    # A continuation in another process: it receives the finished Unfuture.
    return 2 * done.result()  # type: ignore[attr-defined,no-any-return]


@unsync(cpu_bound=True)
def fail_in_worker(message: str) -> None:
    raise KeyError(message)


@unsync(cpu_bound=True)
def exit_abruptly(code: int) -> None:
    os._exit(code)


@unsync(cpu_bound=True)
def spin_forever(pid_file: str) -> None:
    with open(pid_file, "w") as out:
        out.write(str(os.getpid()))
    while True:
        pass


@unsync(cpu_bound=True)
def make_a_lock() -> object:
    import threading

    return threading.Lock()


@unsync(cpu_bound=True)
def describe(value: object) -> str:
    return type(value).__name__


@unsync(cpu_bound=True)
def kill_own_worker() -> None:
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


class NeedsTwoArguments(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code}: {reason}")


@unsync(cpu_bound=True)
def fail_with_an_exception_that_cannot_be_rebuilt() -> None:
    raise NeedsTwoArguments(7, "out of cheese")


@unsync(cpu_bound=True)
def exit_the_interpreter() -> None:
    raise SystemExit(5)


@unsync(cpu_bound=True)
def an_instance_of_a_class_only_the_worker_has() -> object:
    import sys
    import types

    class Thing:
        pass

    # A module made in the worker: pickle names it, and the parent has no such module.
    module = types.ModuleType("made_in_the_worker")
    Thing.__module__, Thing.__qualname__ = module.__name__, "Thing"
    module.Thing = Thing  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    return Thing()


ONE_AT_A_TIME = Limiter(1)


@unsync(cpu_bound=True, limit=ONE_AT_A_TIME)
def wait_for_file_one_at_a_time(path: str) -> str:
    return wait_for_file(path)


# -- the data path: large buffers and where pickling happens ---------------------

# Large enough to travel in a memory file rather than through the pipe.
LARGE = 4 * 1024 * 1024
# Threads of this (parent) process that pickled a `PicklingRecorder` or unpickled a `recorded()` result.
pickled_in: list[str] = []
unpickled_in: list[str] = []


class PicklingRecorder:
    """Records, in the parent, which thread pickles it."""

    def __reduce__(self) -> tuple[object, ...]:
        import threading

        pickled_in.append(threading.current_thread().name)
        return (str, ("recorded",))


def recorded(payload: bytes) -> bytes:
    """Records, in the parent, which thread unpickles the result that carries it."""
    import threading

    unpickled_in.append(threading.current_thread().name)
    return payload


class UnpicklesByRecording:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def __reduce__(self) -> tuple[object, ...]:
        return (recorded, (self.payload,))


@unsync(cpu_bound=True)
def large_result_recording_its_unpickling() -> UnpicklesByRecording:
    return UnpicklesByRecording(bytes(LARGE))


class BufferHolder:
    """Offers its data out of band, as NumPy arrays do: what it unpickles from shows where the data came."""

    def __init__(self, data: object) -> None:
        self.data = data

    def __reduce_ex__(self, protocol: object) -> tuple[object, ...]:
        import pickle

        return (BufferHolder, (pickle.PickleBuffer(self.data),))  # type: ignore[arg-type]


@unsync(cpu_bound=True)
def where_each_arrived(*values: object, **named: object) -> list[str]:
    """For each argument: its type, and for a BufferHolder what its buffer is backed by."""
    described = []
    for value in [*values, *named.values()]:
        if isinstance(value, BufferHolder):
            described.append(f"BufferHolder over {type(memoryview(value.data).obj).__name__}")  # type: ignore[arg-type]
        else:
            described.append(type(value).__name__)
    return described


@unsync(cpu_bound=True)
def echo(value: object) -> object:
    return value


@unsync(cpu_bound=True)
def fail_after_receiving(data: bytes) -> None:
    raise ValueError(f"refused {len(data)} bytes")


@unsync(cpu_bound=True)
def die_after_receiving(data: bytes) -> None:
    os._exit(7)


@unsync(cpu_bound=True)
def spin_with(data: bytes, pid_file: str) -> None:
    with open(pid_file, "w") as out:
        out.write(str(os.getpid()))
    while True:
        pass


# What `remember` was given, in the worker that ran it.
remembered: list[object] = []


@unsync(cpu_bound=True)
def remember(value: object) -> None:
    remembered.append(value)


@unsync(cpu_bound=True)
def recall() -> list[bytes]:
    """The bytes of what `remember` was given, as the worker sees them now."""
    return [bytes(memoryview(getattr(value, "data", value))) for value in remembered]  # type: ignore[arg-type]


@unsync(cpu_bound=True)
def open_memory_files() -> list[str]:
    """The memory files this worker still has open (none, between calls)."""
    return memory_files_of(os.getpid())


def memory_files_of(pid: int) -> list[str]:
    """The anonymous memory files that process ``pid`` has open, as /proc shows them (Linux)."""
    return [target for _, target in _memory_file_descriptors(pid)]


def _memory_file_descriptors(pid: int) -> list[tuple[str, str]]:
    """(``/proc/<pid>/fd/<n>``, what it links to) for each of ``pid``'s descriptors of a memory file."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        path = f"/proc/{pid}/fd/{fd}"
        try:
            target = os.readlink(path)
        except FileNotFoundError:
            continue  # closed meanwhile, e.g. listdir's own
        if target.startswith("/memfd:"):
            found.append((path, target))
    return found


def memory_file_inodes() -> set[int]:
    """The inodes of the memory files this process has open: one per file, however many descriptors."""
    found = set()
    for path, _ in _memory_file_descriptors(os.getpid()):
        with contextlib.suppress(FileNotFoundError):  # closed meanwhile
            found.add(os.stat(path).st_ino)
    return found


@unsync(cpu_bound=True)
def large_and_unpicklable() -> list[object]:
    import threading

    return [bytearray(LARGE), threading.Lock()]
