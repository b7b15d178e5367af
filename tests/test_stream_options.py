"""Mistakes in decorating a generator function fail at the decorator, saying what to do."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from unsync import Limiter, unsync


async def ticks() -> AsyncIterator[int]:
    yield 1


def rows() -> Iterator[int]:
    yield 1


async def fetch() -> int:
    return 1


@pytest.mark.parametrize("generator", [ticks, rows])
def test_cpu_bound_on_a_generator_function_says_what_to_do_instead(generator: Any) -> None:
    with pytest.raises(TypeError, match=r"cpu_bound=True cannot apply to the generator function .*drop cpu_bound"):
        unsync(cpu_bound=True)(generator)


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True])
def test_read_ahead_must_be_a_whole_number_of_zero_or_more(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"read_ahead must be a whole number of items, 0 or more"):
        unsync(read_ahead=bad)


def test_cpu_bound_on_an_async_context_manager_function_is_an_error() -> None:
    with pytest.raises(TypeError, match=r"cpu_bound=True cannot apply to the async context manager function"):
        unsync(cpu_bound=True)(session)


def test_read_ahead_on_a_function_that_is_not_a_generator_is_an_error() -> None:
    with pytest.raises(TypeError, match=r"read_ahead applies to generator functions.*fetch is not one"):
        unsync(read_ahead=2)(fetch)


@contextlib.asynccontextmanager
async def session() -> AsyncIterator[None]:
    yield


@pytest.mark.parametrize("fn", [ticks, rows, session])
def test_limit_on_a_function_whose_calls_do_not_return_an_unfuture_is_an_error(fn: Any) -> None:
    with pytest.raises(TypeError, match=r"limit applies to calls that return an Unfuture"):
        unsync(limit=Limiter(2))(fn)


def test_bad_arguments_fail_at_the_call_not_at_the_first_item() -> None:
    stream_of_ticks, stream_of_rows = unsync(ticks), unsync(rows)
    with pytest.raises(TypeError):
        stream_of_ticks(1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        stream_of_rows(extra=True)  # type: ignore[call-arg]


def test_unknown_options_name_read_ahead_among_the_choices() -> None:
    with pytest.raises(TypeError, match=r"'read_ahead'"):
        unsync(read_ahed=1)  # type: ignore[call-overload]
