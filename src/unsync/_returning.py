"""How type checkers see an ``@unsync`` function whose calls return a stream or a context, not an Unfuture.

At run time such a function is an `UnsyncFunction` like any other; only its
calls' type differs, so a protocol says it.
"""

from __future__ import annotations

from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, overload

__all__ = ["Returning"]

P = ParamSpec("P")
P2 = ParamSpec("P2")
R_co = TypeVar("R_co", covariant=True)
S = TypeVar("S")


class Returning(Protocol[P, R_co]):
    """A decorated function taking ``P`` whose calls return ``R_co``; binds to instances as methods do."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> Returning[P, R_co]: ...
    @overload
    def __get__(
        self: Returning[Concatenate[S, P2], R_co], instance: S, owner: type[Any] | None = None
    ) -> Returning[P2, R_co]: ...
