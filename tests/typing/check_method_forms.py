"""Every method form under ``@unsync``, as mypy --strict and pyright must type it: never run.

``@classmethod`` / ``@staticmethod`` above or below
``@unsync``, called on the class and on an instance.  The runtime behaviour of
the same forms is tested in tests/scenarios/method_forms.py.
"""

from typing import assert_type

from unsync import Unfuture, unsync


class Service:
    # Instance methods: check_decorator.py.
    @classmethod
    @unsync
    async def create_over(cls, n: int) -> str:
        return cls.__name__ * n

    @unsync
    @classmethod
    async def create_under(cls, n: int) -> str:
        return cls.__name__ * n

    @staticmethod
    @unsync
    async def parse_over(text: str) -> int:
        return len(text)

    @unsync
    @staticmethod
    async def parse_under(text: str) -> int:
        return len(text)

    @classmethod
    @unsync(cpu_bound=True)
    def crunch(cls, n: int) -> float:
        return n / 2

    @staticmethod
    @unsync
    def ping() -> bool:
        return True


service = Service()

assert_type(Service.create_over(2), Unfuture[str])
assert_type(service.create_over(2), Unfuture[str])
assert_type(Service.create_under(2), Unfuture[str])
assert_type(service.create_under(2), Unfuture[str])
assert_type(Service.crunch(3), Unfuture[float])

assert_type(Service.parse_over("abc"), Unfuture[int])
assert_type(service.parse_over("abc"), Unfuture[int])
assert_type(Service.parse_under("abc"), Unfuture[int])
assert_type(service.parse_under("abc"), Unfuture[int])
assert_type(service.ping(), Unfuture[bool])


async def awaited() -> None:
    assert_type(await service.create_over(1), str)
    assert_type(await Service.parse_under("x"), int)


# Wrong arguments are still caught, whatever the form.
Service.create_over("2")  # type: ignore[call-overload]
service.parse_over(3)  # type: ignore[call-overload]
Service.parse_under(b"x")  # type: ignore[call-overload]
