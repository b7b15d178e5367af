"""Streams both ways: lines from a TCP server into sync code, rows of a blocking CSV reader into asyncio.run.

The example starts its own server on 127.0.0.1 (on a free port) on the
ambient loop, through `unsync.context`, and reads it with an ``@unsync``
async generator in a plain ``for`` loop.  Then an ``@unsync`` blocking
generator reads a CSV file in worker threads while an ``asyncio.run``
program consumes it with ``async for`` and its loop stays free.
"""

import asyncio
import contextlib
import csv
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import anyio.abc
from _backend import choose_backend
from anyio.streams.buffered import BufferedByteReceiveStream

import unsync
from unsync import unsync as unsynced

QUOTES = ["AAPL 187.50", "MSFT 402.10", "NVDA 121.40"]


@contextlib.asynccontextmanager
async def quote_server(quotes: list[str]) -> AsyncIterator[int]:
    """Serve ``quotes``, one line each, to every client; yield the port."""

    async def send_quotes(client: anyio.abc.SocketStream) -> None:
        async with client:
            for quote in quotes:
                await client.send(f"{quote}\n".encode())
                await anyio.sleep(0.01)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener, anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, send_quotes)
        yield listener.extra(anyio.abc.SocketAttribute.local_port)
        tasks.cancel_scope.cancel()


@unsynced
async def read_lines(port: int) -> AsyncIterator[str]:
    """Each line the server at ``port`` sends, until it closes the connection."""
    async with await anyio.connect_tcp("127.0.0.1", port) as connection:
        received = BufferedByteReceiveStream(connection)
        while True:
            try:
                line = await received.receive_until(b"\n", max_bytes=65536)
            except anyio.IncompleteRead:
                return
            yield line.decode()


@unsynced
def read_orders(path: Path) -> Iterator[dict[str, str]]:
    """The rows of a CSV file, read with blocking IO (in worker threads)."""
    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            time.sleep(0.0005)  # a slow disk or network share
            yield row


async def total_quantity(path: Path) -> tuple[int, int, bool]:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    ticker = asyncio.create_task(tick())
    rows = quantity = 0
    async for order in read_orders(path):
        rows += 1
        quantity += int(order["quantity"])
    ticker.cancel()
    return rows, quantity, ticks > 10


if __name__ == "__main__":
    backend = choose_backend()
    with unsync.context(quote_server(QUOTES)) as port:
        print(f"{backend} tcp:", " / ".join(read_lines(port)))

    with tempfile.TemporaryDirectory() as folder:
        orders = Path(folder) / "orders.csv"
        orders.write_text("item,quantity\n" + "".join(f"item{n},{n}\n" for n in range(1, 201)))
        rows, quantity, loop_stayed_free = asyncio.run(total_quantity(orders))
        print(f"csv: {rows} rows, quantity {quantity}, loop stayed free {loop_stayed_free}")
