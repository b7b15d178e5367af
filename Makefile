# Every target creates .venv on first use, so a fresh clone needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench instructions soak docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m unsync

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks tools
	$(BIN)/ruff format --check src tests examples benchmarks tools

# pyright comes from the npm registry, so it runs where node is installed.
PYRIGHT := npx --yes pyright@1.1.414

typecheck: $(STAMP)
	$(BIN)/mypy --strict src tests/typing
	@if command -v npx >/dev/null 2>&1; then \
		$(PYRIGHT) --pythonpath $(BIN)/python -p tests/typing; \
	else \
		echo "pyright skipped: it needs node (npx); mypy --strict has checked the same files"; \
	fi

pytest: $(STAMP)
	$(BIN)/pytest

# unsync 1.4.0's own test suite, downloaded from PyPI, against this package.
.PHONY: test-unsync14
test-unsync14: $(STAMP)
	PYTHON=$(BIN)/python tests/compat/run_unsync14_suite.sh

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# CPU work per call as counted by valgrind (installed apart: apt-get install valgrind).
instructions: $(STAMP)
	$(BIN)/python benchmarks/instructions.py $(INSTRUCTIONS_ARGS)

# Minutes of threads calling, forking and shutting down on each backend; not run in CI.
# Its table goes to tools/soak-results.md, which docs/reliability.md includes.
soak: $(STAMP)
	$(BIN)/python tools/soak.py $(SOAK_ARGS)

docs: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,docs]'
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) site .mypy_cache .ruff_cache
