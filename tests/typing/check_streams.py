"""Type-checked, never run: item types flow through ``@unsync`` for streams and context managers.

Each ``assert_type`` states what a checker must infer; each ``# type: ignore[...]``
marks a use it must reject.
"""

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import assert_type

import unsync as unsync_module
from unsync import UnsyncContext, UnsyncStream, unsync


@unsync
async def tail(path: str) -> AsyncIterator[str]:
    yield path


@unsync(read_ahead=0)
async def totals() -> AsyncGenerator[int, int]:
    total = 0
    while True:
        total += yield total


@unsync
def read_rows(path: str) -> Iterator[list[str]]:
    yield [path]


@unsync(read_ahead=4)
def numbers(n: int) -> Generator[float, None, None]:
    yield float(n)


@unsync
async def fetch(n: int) -> int:
    return n


@contextlib.asynccontextmanager
async def connect(host: str) -> AsyncIterator[bytes]:
    yield host.encode()


class Service:
    @unsync
    async def events(self, topic: str) -> AsyncIterator[bytes]:
        yield topic.encode()

    @unsync
    def lines(self) -> Iterator[str]:
        yield ""


assert_type(tail("log"), UnsyncStream[str])
assert_type(read_rows("a.csv"), UnsyncStream[list[str]])
assert_type(numbers(3), UnsyncStream[float])
assert_type(Service().events("t"), UnsyncStream[bytes])
assert_type(Service().lines(), UnsyncStream[str])
assert_type(unsync_module.context(connect("db")), UnsyncContext[bytes])

for line in tail("log"):
    assert_type(line, str)
for row in read_rows("a.csv"):
    assert_type(row, list[str])
with read_rows("a.csv") as rows:
    assert_type(next(rows), list[str])
with unsync_module.context(connect("db")) as connection:
    assert_type(connection, bytes)

tail(1)  # type: ignore[arg-type]
unsync_module.context(42)  # type: ignore[arg-type]


async def inside_a_coroutine() -> None:
    async for line in tail("log"):
        assert_type(line, str)
    async for row in read_rows("a.csv"):
        assert_type(row, list[str])
    assert_type(await totals().asend(3), int)
    async with unsync_module.context(connect("db")) as connection:
        assert_type(connection, bytes)
    async for _ in fetch(1):  # type: ignore[attr-defined]
        pass
