"""Sending functions to other processes by reference.

The module attribute of an ``@unsync(cpu_bound=True)`` function is the
decorator's wrapper, which pickle refuses to treat as the function itself.
`FunctionReference` names the function by module and qualified name, and the
worker unwraps whatever it finds there back to the original.
"""

from __future__ import annotations

import inspect
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FunctionReference:
    """Names a module-level function so a worker process can import it."""

    module: str
    qualname: str

    @classmethod
    def to(cls, fn: Callable[..., Any]) -> FunctionReference:
        """A reference to ``fn``; `TypeError` if no other process could import it."""
        name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
        module = getattr(fn, "__module__", None)
        if name is None or module is None:
            raise TypeError(f"{fn!r} cannot run in another process: it has no module and name to import it by")
        if "<lambda>" in name:
            raise TypeError(
                f"{fn!r} cannot run in another process: a lambda cannot be imported there; "
                "define it with `def` at module level"
            )
        if "<locals>" in name:
            raise TypeError(
                f"{name} cannot run in another process: it is defined inside another function; move it to module level"
            )
        if module == "__main__" and not getattr(sys.modules.get("__main__"), "__file__", None):
            raise TypeError(
                f"{name} cannot run in another process: it was defined in an interactive session; "
                "put it in a module (a .py file) and import it"
            )
        return cls(module, name)

    def resolve(self) -> Callable[..., Any]:
        """Import the function and unwrap it back to the undecorated original."""
        __import__(self.module)
        found: Any = sys.modules[self.module]
        for part in self.qualname.split("."):
            # Statically: a classmethod read from its class would come back bound to it.
            found = inspect.getattr_static(found, part)
        while True:
            if isinstance(found, (classmethod, staticmethod)):
                found = found.__func__
            elif getattr(found, "__unsync_wrapper__", False):
                found = found.__wrapped__
            else:
                return found  # type: ignore[no-any-return]


def call_by_reference(reference: FunctionReference, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Worker-side entry point: resolve ``reference`` and call it."""
    return reference.resolve()(*args, **kwargs)


def name_unpicklable_argument(
    reference: FunctionReference, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> str | None:
    """Which argument of a call cannot be pickled, and why; None if all can."""
    named = [(f"argument {i + 1}", value) for i, value in enumerate(args)] + [
        (f"argument {name!r}", value) for name, value in kwargs.items()
    ]
    for label, value in named:
        try:
            pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            return f"{label} of {reference.qualname}() cannot be sent to a worker process: {exc}"
    return None
