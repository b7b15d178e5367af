"""CPU-heavy work in worker processes; errors keep their type."""

import os

from _backend import choose_backend

from unsync import unsync


@unsync(cpu_bound=True)
def collatz_steps(n: int) -> int:
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


@unsync(cpu_bound=True)
def worker_pid() -> int:
    return os.getpid()


if __name__ == "__main__":
    choose_backend()
    print("steps", [f.result() for f in [collatz_steps(n) for n in (27, 97, 871)]])
    print("other process", worker_pid().result() != os.getpid())
