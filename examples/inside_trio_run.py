"""A trio program awaiting unsync calls in a nursery and under a timeout."""

import time

import trio
from _backend import choose_backend

from unsync import unsync


@unsync
def blocking_fetch(n: int) -> int:
    time.sleep(0.1)
    return n


async def main() -> None:
    results: list[int] = []

    async def fetch_into(n: int) -> None:
        results.append(await blocking_fetch(n))

    async with trio.open_nursery() as nursery:
        for n in range(5):
            nursery.start_soon(fetch_into, n)
    with trio.move_on_after(0.01) as scope:
        await blocking_fetch(99)
    print("fetched", sorted(results), "timed out", scope.cancelled_caught)


if __name__ == "__main__":
    choose_backend()
    trio.run(main)
