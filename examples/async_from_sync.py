"""Call coroutines from plain synchronous code and collect the results."""

import time

import anyio
from _backend import choose_backend

from unsync import unsync


@unsync
async def lookup(word: str) -> int:
    await anyio.sleep(0.2)  # stands in for a network call
    return len(word)


if __name__ == "__main__":
    backend = choose_backend()
    start = time.perf_counter()
    lengths = [lookup(word) for word in ["ambient", "event", "loop"]]
    print(backend, [length.result() for length in lengths], f"overlapped={time.perf_counter() - start < 0.5}")
