"""The examples in the library's docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import unsync

MODULES = sorted(f"unsync.{info.name}" for info in pkgutil.iter_modules(unsync.__path__) if info.name != "__main__")


@pytest.mark.parametrize("name", ["unsync", *MODULES])
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_every_public_name_has_a_docstring_with_an_example() -> None:
    constants = {"ALL_COMPLETED", "FIRST_COMPLETED", "FIRST_EXCEPTION", "__version__"}
    missing = [
        name
        for name in unsync.__all__
        if name not in constants
        and ">>>" not in (getattr(unsync, name).__doc__ or "")
        and "```" not in (getattr(unsync, name).__doc__ or "")
    ]
    assert missing == []
