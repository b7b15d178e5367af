"""Sending functions to other processes by reference.

The module attribute of an ``@unsync(cpu_bound=True)`` function is the
decorator's wrapper, which pickle refuses to treat as the function itself.
`FunctionReference` names the function by module and qualified name, and the
worker unwraps whatever it finds there back to the original.
"""

from __future__ import annotations

import ast
import functools
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any


class FunctionReference:
    """Names a module-level function so a worker process can import it."""

    __slots__ = ("module", "qualname")

    def __init__(self, module: str, qualname: str) -> None:
        self.module: str = module
        self.qualname: str = qualname

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FunctionReference) and (self.module, self.qualname) == (other.module, other.qualname)

    def __hash__(self) -> int:
        return hash((self.module, self.qualname))

    def __repr__(self) -> str:
        return f"FunctionReference({self.module!r}, {self.qualname!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (FunctionReference, (self.module, self.qualname))

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
        if module == "__main__" and main_script() is None:
            raise TypeError(
                f"{name} cannot run in another process: it was defined in an interactive session "
                "or in a script read from standard input, which no worker can read again; "
                "put it in a module (a .py file) and import it, or run your script from its file"
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


def main_script() -> str | None:
    """The path of the main script, None if there is none a worker could run (interactive, ``-c``, stdin)."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    return path if isinstance(path, str) and _is_file(path) else None


@functools.cache
def _is_file(path: str) -> bool:
    # Asked at every call of a script's own cpu_bound functions: one stat, not one per call.
    return os.path.isfile(path)


def refuse_a_call_from_unguarded_main_code(reference: FunctionReference) -> None:
    """Raise `RuntimeError` if this call is made by the main script's top-level code outside its ``__main__`` guard.

    A worker runs the main script to find the functions defined there; code
    that is not under ``if __name__ == "__main__":`` would run again in each
    worker and make the same calls, then fail in a way that never names the
    cause.  Called in the caller's thread, before anything is sent.
    """
    path = main_script()
    if path is None:
        return
    main_globals = vars(sys.modules["__main__"])
    frame = inspect.currentframe()
    while frame is not None and not (frame.f_globals is main_globals and frame.f_code.co_name == "<module>"):
        frame = frame.f_back
    if frame is None:
        return  # the script's top level has finished, or this thread is not running it
    line = frame.f_lineno
    if any(first <= line <= last for first, last in guarded_lines(path)):
        return
    script = os.path.basename(path)
    raise RuntimeError(
        f"{reference.qualname}() runs in a worker process, but it was called from the top level of {script} "
        f'(line {line}), outside an `if __name__ == "__main__":` block.  Each worker process runs {script} '
        "to find the functions defined there, and would make this call again.  Put the code that runs "
        "the script under the guard, for example:\n\n"
        "    def main():\n"
        "        ...\n\n"
        '    if __name__ == "__main__":\n'
        "        main()"
    )


@functools.cache
def guarded_lines(path: str) -> list[tuple[int, int]]:
    """The line ranges of a script's top-level ``if __name__ == "__main__":`` blocks (all of it if unreadable)."""
    try:
        with open(path, "rb") as script:
            tree = ast.parse(script.read(), path)
    except (OSError, SyntaxError, ValueError):
        return [(0, sys.maxsize)]  # nothing to go by: never refuse
    return [
        (statement.lineno, statement.end_lineno or sys.maxsize)
        for statement in tree.body
        if isinstance(statement, ast.If) and _is_main_test(statement.test)
    ]


def _is_main_test(test: ast.expr) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [side.id for side in sides if isinstance(side, ast.Name)]
    constants = [side.value for side in sides if isinstance(side, ast.Constant)]
    return names == ["__name__"] and constants == ["__main__"]


def name_unpicklable_argument(
    reference: FunctionReference, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> str | None:
    """Which argument of a call cannot be pickled, and why; None if all can."""
    named = [(f"argument {i + 1}", value) for i, value in enumerate(args)] + [
        (f"argument {name!r}", value) for name, value in kwargs.items()
    ]
    import pickle  # only once a call has failed to pickle

    for label, value in named:
        try:
            pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            return f"{label} of {reference.qualname}() cannot be sent to a worker process: {exc}"
    return None
