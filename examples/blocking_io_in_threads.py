"""Blocking calls in worker threads, with the caller's context and a limit."""

import contextvars
import time

from _backend import choose_backend

from unsync import unsync

user: contextvars.ContextVar[str] = contextvars.ContextVar("user", default="nobody")


@unsync(limit=5)
def read_record(n: int) -> str:
    time.sleep(0.1)  # a blocking driver
    return f"{user.get()}:{n}"


if __name__ == "__main__":
    choose_backend()
    user.set("ada")
    start = time.perf_counter()
    records = [read_record(n) for n in range(10)]
    results = [r.result() for r in records]
    # At most five at a time: two waves of 0.1 s at least; one at a time would take 1 s.
    print(results[:3], f"five at a time={0.2 <= time.perf_counter() - start < 0.8}")
