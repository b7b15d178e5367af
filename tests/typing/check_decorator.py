from typing import assert_type

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


assert_type(double(1), Unfuture[int])
assert_type(shout("a"), Unfuture[str])
assert_type(square(3), Unfuture[int])
assert_type(Service().fetch("k"), Unfuture[bytes])
assert_type(Service().load("k"), Unfuture[list[str]])
assert_type(double(1).result(), int)
double("x")  # type: ignore[arg-type]  # a str is not an int
Service().fetch(1)  # type: ignore[arg-type]  # keys are str
