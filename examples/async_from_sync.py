"""Call coroutines from plain synchronous code and collect the results."""

import time

import anyio
from _backend import choose_backend

from unsync import unsync

DELAY = 0.5


@unsync
async def lookup(word: str) -> int:
    await anyio.sleep(DELAY)  # stands in for a network call
    return len(word)


if __name__ == "__main__":
    backend = choose_backend()
    start = time.perf_counter()
    lengths = [lookup(word) for word in ["ambient", "event", "loop"]]
    results = [length.result() for length in lengths]
    # One after the other, the three lookups would take 3 * DELAY.
    print(backend, results, f"overlapped={time.perf_counter() - start < 2 * DELAY}")
