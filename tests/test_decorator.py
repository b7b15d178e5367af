"""The decorated objects themselves: names, equality, pickling, and mistakes refused at the decorator."""

from __future__ import annotations

import contextlib
import pickle
import threading
from collections.abc import AsyncIterator

import anyio
import pytest

from conftest import RunPython
from scenarios.cpu_work import sum_of_squares
from unsync import BoundUnsyncFunction, UnsyncFunction, unsync


class Greeter:
    def __repr__(self) -> str:
        return "<a greeter>"

    @unsync
    def greet(self, name: str) -> str:
        return f"hello {name}"

    # A builtin function is not a descriptor: like the builtin itself, it does not bind.
    absolute = unsync(abs)


def test_reprs_name_the_function_and_the_instance() -> None:
    greeter = Greeter()
    assert repr(Greeter.greet) == "<unsync Greeter.greet>"
    assert repr(greeter.greet) == "<bound unsync Greeter.greet of <a greeter>>"


def test_bound_functions_compare_and_hash_like_bound_methods() -> None:
    first, second = Greeter(), Greeter()
    assert first.greet == first.greet
    assert hash(first.greet) == hash(first.greet)
    assert first.greet != second.greet
    assert first.greet != first.greet.__wrapped__
    assert len({first.greet, first.greet, second.greet}) == 2


def test_what_does_not_bind_stays_unbound_on_instances() -> None:
    greeter = Greeter()
    assert isinstance(greeter.absolute, UnsyncFunction)
    assert not isinstance(greeter.absolute, BoundUnsyncFunction)
    assert greeter.absolute(-3).result(timeout=10) == 3


def test_a_decorated_function_pickles_as_a_reference_to_itself() -> None:
    assert pickle.loads(pickle.dumps(sum_of_squares)) is sum_of_squares


def test_options_and_the_function_in_one_call_are_refused() -> None:
    def work() -> None:
        pass

    with pytest.raises(TypeError, match=r"pass options as @unsync\(cpu_bound=True\)"):
        unsync(work, cpu_bound=True)  # type: ignore[call-overload]


def test_context_is_on_the_decorator_too() -> None:
    exits: list[str] = []

    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[str]:
        await anyio.sleep(0)
        try:
            yield threading.current_thread().name
        finally:
            exits.append(threading.current_thread().name)

    with unsync.context(opened()) as entered_in:
        assert exits == []
    assert [entered_in, *exits] == ["unsync-ambient-loop"] * 2


def test_the_settings_kept_from_1_4_0_on_the_decorator(run_python: RunPython) -> None:
    proc = run_python(
        """
        import concurrent.futures
        import unsync
        from unsync import unsync as decorator

        decorator.use_backend("trio")

        @decorator
        async def backend():
            import sniffio
            return sniffio.current_async_library()

        print(backend().result(timeout=10))
        decorator.shutdown()
        decorator.exit_grace_period = 2.5
        print(decorator.exit_grace_period, unsync.exit_grace_period)
        for wrong in ("5", True, -1, float("nan")):
            try:
                unsync.exit_grace_period = wrong
            except (TypeError, ValueError) as exc:
                print(type(exc).__name__, exc)
        unsync.exit_grace_period = None
        print(unsync.exit_grace_period)
        with concurrent.futures.ThreadPoolExecutor(2) as replacement:
            unsync.thread_executor = replacement
            try:
                unsync.thread_limit
            except TypeError as exc:
                print(exc)
        """
    )
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["trio", "2.5 2.5"]
    number_wanted = "a grace period is a number of seconds, or None to wait as long as it takes, not"
    assert lines[2:7] == [
        f"TypeError {number_wanted} '5'",
        f"TypeError {number_wanted} True",
        "ValueError a grace period cannot be negative (or NaN), not -1",
        "ValueError a grace period cannot be negative (or NaN), not nan",
        "None",
    ]
    assert lines[7].startswith("unsync.thread_executor was replaced by <concurrent.futures.thread.ThreadPoolExecutor")
    assert lines[7].endswith("set its limit on that executor itself")
