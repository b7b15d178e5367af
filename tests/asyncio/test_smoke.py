import asyncio
import time

from unsync import unsync


@unsync
async def double_later(x: int) -> int:
    await asyncio.sleep(0.1)
    return 2 * x


def test_ten_async_sleeps_overlap() -> None:
    start = time.perf_counter()
    futures = [double_later(i) for i in range(10)]
    assert [f.result() for f in futures] == [2 * i for i in range(10)]
    assert time.perf_counter() - start < 0.5
