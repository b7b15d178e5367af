"""An asyncio program awaiting unsync calls: gather, wait_for, threads and processes."""

import asyncio
import time

from _backend import choose_backend

from unsync import unsync


@unsync
def blocking_fetch(n: int) -> int:
    time.sleep(0.1)
    return n


@unsync(cpu_bound=True)
def square(n: int) -> int:
    return n * n


async def main() -> None:
    fetched = await asyncio.gather(*(blocking_fetch(n) for n in range(5)))
    squared = await asyncio.wait_for(square(fetched[-1]), timeout=30)
    try:
        await asyncio.wait_for(blocking_fetch(0).then(lambda _: time.sleep(1)), timeout=0.05)
    except TimeoutError:
        print("timed out as asked")
    print("fetched", fetched, "squared", squared)


if __name__ == "__main__":
    choose_backend()
    asyncio.run(main())
