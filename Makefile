# Every target creates .venv on first use, so a fresh clone needs only Python 3.11+ and make.
# The tools come at the exact versions of pyproject.toml's dependency groups.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.demo-installed
DOCS_STAMP := $(VENV)/.docs-installed
# Most tests wait on other threads and processes: one pytest worker per CPU (pytest-xdist).
PYTEST_PARALLEL := --numprocesses=auto
# Dependency groups need pip 25.1 or later.
PIP_VERSION := 26.3

.PHONY: demo test test-all lint typecheck pytest coverage bench instructions soak docs sdist clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==$(PIP_VERSION)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e . --group dev
	touch $(STAMP)

# The tour runs under asyncio, then trio: nothing else.
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[trio]'
	touch $(DEMO_STAMP)

$(DOCS_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet --group docs
	touch $(DOCS_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/python -m unsync

# The checks on this interpreter; `make test-all` runs the suite on every supported CPython.
test: lint typecheck coverage

# Lint and type checks once, then the suite under each CPython that pyproject's classifiers name
# (nox finds them on PATH or under pyenv; one that is missing fails the target).
test-all: lint typecheck
	$(BIN)/nox --session tests

lint: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks tools noxfile.py
	$(BIN)/ruff format --check src tests examples benchmarks tools noxfile.py

# pyright comes from the npm registry, so it runs where node is installed.  --verifytypes (every
# public name fully typed: the score must be 100%) finds the package only through an active venv.
PYRIGHT := npx --yes pyright@1.1.414

typecheck: $(STAMP)
	$(BIN)/mypy --strict src tests/typing
	@if command -v npx >/dev/null 2>&1; then \
		set -e; \
		$(PYRIGHT) --pythonpath $(BIN)/python -p tests/typing; \
		PATH="$(CURDIR)/$(BIN):$$PATH" VIRTUAL_ENV="$(CURDIR)/$(VENV)" $(PYRIGHT) --verifytypes unsync --ignoreexternal; \
	else \
		echo "pyright skipped: it needs node (npx); mypy --strict has checked the same files"; \
	fi

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_PARALLEL)

# The suite under coverage.py, worker processes and scripts included; the floors are in pyproject.toml.
coverage: $(STAMP)
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest $(PYTEST_PARALLEL)
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report
	$(BIN)/python tests/coverage_floor.py

# unsync 1.4.0's own test suite, downloaded from PyPI, against this package.
.PHONY: test-unsync14
test-unsync14: $(STAMP)
	PYTHON=$(BIN)/python tests/compat/run_unsync14_suite.sh

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --group bench
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# CPU work per call as counted by valgrind (installed apart: apt-get install valgrind).
instructions: $(STAMP)
	$(BIN)/python benchmarks/instructions.py $(INSTRUCTIONS_ARGS)

# Minutes of threads calling, forking and shutting down on each backend; not run in CI.
# Its table goes to tools/soak-results.md, which docs/reliability.md includes.
soak: $(STAMP)
	$(BIN)/python tools/soak.py $(SOAK_ARGS)

# The site, built strictly; then the API reference is read back as HTML (tests/test_docs_render.py).
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
	$(BIN)/pytest tests/test_docs_render.py -q

sdist: $(STAMP)
	$(BIN)/python -m build --sdist --outdir dist

clean:
	rm -rf $(VENV) site dist .nox .coverage .coverage.* .mypy_cache .ruff_cache
