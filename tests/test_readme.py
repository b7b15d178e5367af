"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import RunPython

README = Path(__file__).parent.parent / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
RUNNABLE = [code for code in EXAMPLES if "print(" in code]


# What each runnable example prints, in README order.
EXPECTED_OUTPUT = [r"\d+ settings\.toml", r"3 items", r"closed on the ambient loop\ndone"]


def test_every_runnable_example_has_an_expected_output() -> None:
    assert len(RUNNABLE) == len(EXPECTED_OUTPUT)


@pytest.mark.parametrize(("code", "expected"), list(zip(RUNNABLE, EXPECTED_OUTPUT, strict=False)))
def test_readme_example_runs(run_python: RunPython, code: str, expected: str) -> None:
    assert re.fullmatch(expected, run_python(code).stdout.strip())
