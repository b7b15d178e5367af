"""Module-level functions for worker processes, which import them by reference."""

import os

from unsync import unsync


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
