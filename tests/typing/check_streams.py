"""Type-checked, never run: item types flow through ``@unsync`` for streams and context managers.

Each ``assert_type`` states what a checker must infer; each ``# type: ignore[...]``
marks a use it must reject.
"""

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, assert_type

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


@unsync
@contextlib.asynccontextmanager
async def session(user: str) -> AsyncIterator[dict[str, str]]:
    yield {"user": user}


class Client:
    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


@unsync
async def open_client() -> Client:
    return Client()


@unsync
async def open_connection(host: str) -> AbstractAsyncContextManager[bytes]:
    return connect(host)


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

assert_type(session("ada"), UnsyncContext[dict[str, str]])
with session("ada") as state:
    assert_type(state, dict[str, str])
with open_connection("db") as raw:  # an Unfuture of a manager spelled as one: precise
    assert_type(raw, bytes)
with open_client() as client:  # an Unfuture of another manager: Any
    assert_type(client, Any)
assert_type(open_client().result(), Client)

tail(1)  # type: ignore[arg-type]
session(1)  # type: ignore[arg-type]
unsync_module.context(42)  # type: ignore[arg-type]


async def inside_a_coroutine() -> None:
    async for line in tail("log"):
        assert_type(line, str)
    async for row in read_rows("a.csv"):
        assert_type(row, list[str])
    assert_type(await totals().asend(3), int)
    async with unsync_module.context(connect("db")) as connection:
        assert_type(connection, bytes)
    async with session("ada") as state:
        assert_type(state, dict[str, str])
    async with open_connection("db") as raw:
        assert_type(raw, bytes)
    async for _ in fetch(1):  # type: ignore[attr-defined]
        pass


# `with` on the Unfuture of something that is not an async context manager:
# pyright rejects it; mypy does not check self-types of overloads this far.
with fetch(1):  # pyright: ignore[reportGeneralTypeIssues]
    pass
