"""Chains with then(): each step receives the finished Unfuture before it."""

import anyio
from _backend import choose_backend

from unsync import Unfuture, unsync


@unsync
async def fetch_price(item: str) -> float:
    await anyio.sleep(0.05)
    if item == "unicorn":
        raise LookupError(item)
    return 9.5


def with_tax(done: Unfuture[float]) -> float:  # plain: runs in a worker thread
    return round(done.result() * 1.2, 2)


async def label(done: Unfuture[float]) -> str:  # async: runs on the ambient loop
    return f"{done.result():.2f} EUR"


def safe(done: Unfuture[float]) -> str:
    try:
        return f"{done.result():.2f}"
    except LookupError as missing:
        return f"no price for {missing}"


if __name__ == "__main__":
    choose_backend()
    print(fetch_price("book").then(with_tax).then(label).result())
    print(fetch_price("unicorn").then(safe).result())
