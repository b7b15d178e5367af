"""Methods, classmethods and staticmethods under ``@unsync``, in either decorator order."""

from __future__ import annotations

import os
import threading

import anyio
import pytest

from unsync import BoundUnsyncFunction, Unfuture, UnsyncFunction, unsync


class Service:
    base = 10

    def __init__(self, scale: int = 1) -> None:
        self.scale = scale

    @unsync
    async def method(self, n: int) -> int:
        await anyio.sleep(0)
        return self.scale * n

    @classmethod
    @unsync
    async def classmethod_over(cls, n: int) -> tuple[str, int]:
        await anyio.sleep(0)
        return cls.__name__, cls.base + n

    @unsync
    @classmethod
    async def classmethod_under(cls, n: int) -> tuple[str, int]:
        await anyio.sleep(0)
        return cls.__name__, cls.base + n

    @staticmethod
    @unsync
    async def staticmethod_over(n: int) -> int:
        await anyio.sleep(0)
        return -n

    @unsync
    @staticmethod
    async def staticmethod_under(n: int) -> int:
        await anyio.sleep(0)
        return -n

    @classmethod
    @unsync
    def classmethod_in_a_thread(cls, n: int) -> tuple[str, bool]:
        return cls.__name__, threading.current_thread() is not threading.main_thread()

    @unsync
    @staticmethod
    def staticmethod_in_a_thread(n: int) -> int:
        return n + 1

    @classmethod
    @unsync(cpu_bound=True)
    def classmethod_in_a_process(cls, n: int) -> tuple[str, int, int]:
        return cls.__name__, cls.base + n, os.getpid()

    @unsync(cpu_bound=True)
    @staticmethod
    def staticmethod_in_a_process(n: int) -> tuple[int, int]:
        return n * n, os.getpid()


class SubService(Service):
    base = 20


def test_methods_bind_to_their_instance() -> None:
    service = Service(scale=3)
    assert isinstance(service.method, BoundUnsyncFunction)
    assert service.method(2).result(timeout=10) == 6
    assert Service.method(service, 2).result(timeout=10) == 6


@pytest.mark.parametrize("name", ["classmethod_over", "classmethod_under"])
def test_classmethods_get_the_class_they_are_read_from_in_either_order(name: str) -> None:
    assert getattr(Service, name)(1).result(timeout=10) == ("Service", 11)
    assert getattr(Service(), name)(1).result(timeout=10) == ("Service", 11)
    assert getattr(SubService, name)(1).result(timeout=10) == ("SubService", 21)
    assert getattr(SubService(), name)(1).result(timeout=10) == ("SubService", 21)


@pytest.mark.parametrize("name", ["staticmethod_over", "staticmethod_under"])
def test_staticmethods_are_never_bound_in_either_order(name: str) -> None:
    assert isinstance(getattr(Service, name), UnsyncFunction)
    assert getattr(Service, name)(4).result(timeout=10) == -4
    assert getattr(Service(), name)(4).result(timeout=10) == -4


def test_plain_classmethods_and_staticmethods_run_in_worker_threads() -> None:
    assert SubService.classmethod_in_a_thread(0).result(timeout=10) == ("SubService", True)
    assert Service().staticmethod_in_a_thread(1).result(timeout=10) == 2


def test_cpu_bound_classmethods_and_staticmethods_run_in_worker_processes() -> None:
    name, value, pid = SubService.classmethod_in_a_process(1).result(timeout=30)
    assert (name, value) == ("SubService", 21)
    assert pid != os.getpid()
    square, pid = Service().staticmethod_in_a_process(5).result(timeout=30)
    assert square == 25
    assert pid != os.getpid()


def test_forms_are_awaitable_from_a_coroutine() -> None:
    async def main() -> list[object]:
        return [await SubService().classmethod_over(1), await Service.staticmethod_under(2)]

    assert anyio.run(main) == [("SubService", 21), -2]


def test_every_form_returns_an_unfuture() -> None:
    calls = [Service().method(1), Service.classmethod_under(1), Service().staticmethod_over(1)]
    assert all(isinstance(call, Unfuture) for call in calls)
    for call in calls:
        call.result(timeout=10)


def test_a_property_is_refused_with_what_to_do_instead() -> None:
    with pytest.raises(TypeError, match=r"cannot make a property.*decorate a method"):

        class Broken:
            @unsync
            @property
            def value(self) -> int:
                return 1


class Totals:
    def __init__(self) -> None:
        self.seen: list[int] = []

    @unsync
    def record(self, done: Unfuture[int]) -> int:
        self.seen.append(done.result())
        return sum(self.seen)


def test_a_bound_method_is_a_continuation_of_its_own() -> None:
    totals = Totals()
    first = Unfuture.from_value(2).then(totals.record)
    assert first.result(timeout=10) == 2
    assert Unfuture.from_value(3).then(totals.record).result(timeout=10) == 5
    assert totals.seen == [2, 3]
