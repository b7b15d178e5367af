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
