"""Type-checked by `mypy --strict src tests/typing` in `make test`: never run.

Each ``assert_type`` states what a type checker must infer; each
``# type: ignore[arg-type]`` marks a call it must reject (strict mode reports
an unused ignore, so a rejection that stops happening fails the check).
"""

from typing import assert_type

import unsync as unsync_module
from unsync import Unfuture, unsync


@unsync
async def double(x: int) -> int:
    return x * 2


@unsync
def shout(s: str) -> str:
    return s.upper()


@unsync(cpu_bound=True)
def square(x: int) -> int:
    return x * x


class Service:
    @unsync
    async def fetch(self, key: str) -> bytes:
        return key.encode()

    @unsync
    def load(self, key: str) -> list[str]:
        return [key]


def length(done: Unfuture[str]) -> int:
    return len(done.result())


async def halve(done: Unfuture[int]) -> float:
    return done.result() / 2


async def inside_a_coroutine() -> None:
    assert_type(await double(1), int)
    assert_type(await shout("a"), str)
    assert_type(await Service().fetch("k"), bytes)


assert_type(double(1), Unfuture[int])
assert_type(shout("a"), Unfuture[str])
assert_type(square(3), Unfuture[int])
assert_type(Service().fetch("k"), Unfuture[bytes])
assert_type(Service().load("k"), Unfuture[list[str]])
assert_type(Service.fetch(Service(), "k"), Unfuture[bytes])  # read from the class: self passed
assert_type(double(1).result(), int)
assert_type(shout("a").then(length), Unfuture[int])
assert_type(double(2).then(halve), Unfuture[float])
assert_type(Unfuture.from_value("ready"), Unfuture[str])

ready: Unfuture[str] = Unfuture()
ready.set_result("typed")

double("x")  # type: ignore[arg-type]  # a str is not an int
Service().fetch(1)  # type: ignore[call-overload]  # keys are str
square(1.5)  # type: ignore[arg-type]  # cpu_bound keeps the signature too
ready.set_result(3)  # type: ignore[arg-type]  # an Unfuture[str] holds a str


# The decorator's settings, through the module as through the decorator.
unsync_module.process_limit = 2
assert_type(unsync_module.thread_limit, int)
assert_type(unsync.process_limit, int)
