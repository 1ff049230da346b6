# Shipyard: `make demo` and `make test` work on a fresh machine (they create .venv themselves).
# `make demo` installs the core only (what a user of the server needs); `make test`, `make examples` and
# `make bench` add the test extras (the SageMaker SDK, Ray, torch's CPU wheel, PostgreSQL's driver, ...).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORE := $(VENV)/.installed-core
FULL := $(VENV)/.installed

.PHONY: install install-core demo test examples bench clean

$(CORE): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	-$(BIN)/python -m pip install -q --upgrade pip  # best effort: offline machines keep their pip
	$(BIN)/python -m pip install -q -e .
	touch $(CORE)

$(FULL): $(CORE)
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(FULL)

install-core: $(CORE)
install: $(FULL)

demo: $(CORE)
	$(BIN)/python examples/demo.py

test: $(FULL)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# AWS's example notebooks, as scripts, against a fresh server; they mostly wait on SDK polls: three at a time.
EXAMPLES_ARGS ?= --jobs 3
examples: $(FULL)
	$(BIN)/python examples/aws/run_all.py $(EXAMPLES_ARGS)

bench: $(FULL)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
