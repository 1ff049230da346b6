# Shipyard: `make demo` and `make test` work on a fresh machine (they create .venv themselves).
# `make demo` installs the core only (what a user of the server needs); `make test`, `make examples` and
# `make bench` add the test extras (the SageMaker SDK, Ray, torch's CPU wheel, PostgreSQL's driver, ...) and
# the check extra (ruff, mypy, import-linter, pinned). `make check` lints, type-checks and checks import
# directions; `make test-fast` runs the unit tests only (no servers, no subprocesses), stopping at the first
# failure. CONTRIBUTING.md says which to run when.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORE := $(VENV)/.installed-core
FULL := $(VENV)/.installed

.PHONY: install install-core demo check test test-fast examples bench clean

$(CORE): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	-$(BIN)/python -m pip install -q --upgrade pip  # best effort: offline machines keep their pip
	$(BIN)/python -m pip install -q -e .
	touch $(CORE)

$(FULL): $(CORE)
	$(BIN)/python -m pip install -q -e '.[test,check]'
	touch $(FULL)

install-core: $(CORE)
install: $(FULL)

demo: $(CORE)
	$(BIN)/python examples/demo.py

# ruff (pyproject.toml [tool.ruff]), mypy ([tool.mypy]; strict on errors, domain, wire), import-linter
# (.importlinter: the import directions of the architecture).
check: $(FULL)
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

# Two workers by default (pytest-xdist; tests/conftest.py groups tests that share something machine-wide):
# `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= 2
test: $(FULL)
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# Unit tests only: tests/conftest.py marks a test `integration` when it starts a server, a subprocess or a
# cluster; `slow` ones are end-to-end. Under a minute; `make test` stays the whole suite.
test-fast: $(FULL)
	$(BIN)/python -m pytest -q -p no:cacheprovider -x -m "not integration and not slow" $(PYTEST_ARGS)

# AWS's example notebooks, as scripts, against a fresh server; they mostly wait on SDK polls: three at a time.
EXAMPLES_ARGS ?= --jobs 3
examples: $(FULL)
	$(BIN)/python examples/aws/run_all.py $(EXAMPLES_ARGS)

bench: $(FULL)
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
