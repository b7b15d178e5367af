"""The suite on every CPython that pyproject.toml's classifiers name: ``make test-all``.

Lint and type checks run once, in ``make test-all`` itself; here each
interpreter gets a fresh virtualenv with the pinned test tools and runs the
suite under coverage.  An interpreter that the classifiers claim but the
machine lacks fails the run rather than being skipped.
"""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

import nox

PROJECT = nox.project.load_toml("pyproject.toml")
PYTHONS: list[str] = nox.project.python_versions(PROJECT)
# Interpreters newer than the classifiers' are tested too, when the machine has them.
OPTIONAL_PYTHONS = ["3.14"]

nox.options.error_on_missing_interpreters = True
nox.options.reuse_venv = "yes"
nox.options.default_venv_backend = "venv"


def put_pyenv_interpreters_on_path() -> None:
    """pyenv's shims only answer for its selected versions; the interpreters themselves answer for all."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin")), key=_version_key, reverse=True)
    os.environ["PATH"] = os.pathsep.join([*found, os.environ.get("PATH", "")])


def _version_key(bin_dir: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", Path(bin_dir).parent.name))


put_pyenv_interpreters_on_path()


def available(version: str) -> bool:
    return any(Path(directory, f"python{version}").exists() for directory in os.environ["PATH"].split(os.pathsep))


@nox.session(python=PYTHONS + [v for v in OPTIONAL_PYTHONS if available(v)])
def tests(session: nox.Session) -> None:
    """The whole suite under coverage, worker processes included, with the floors in pyproject.toml."""
    session.install("pip==26.3")  # dependency groups need pip 25.1 or later
    session.install("-e", ".", "--group", "test")
    session.env["COVERAGE_FILE"] = str(Path(session.create_tmp(), ".coverage"))
    session.run("coverage", "run", "-m", "pytest", "--numprocesses=auto", *session.posargs)
    session.run("coverage", "combine", "--quiet")
    session.run("coverage", "report")
    session.run("python", "tests/coverage_floor.py")
