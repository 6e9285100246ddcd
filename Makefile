# Everything a fresh machine needs: `make demo` and `make test` create .venv and install first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: demo test test-fast lint typecheck unit install install-dev tools bench bench-quick sweep docs soak clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[demo]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[dev]'
	touch $@

# Node tools the tests use as independent judges: asl-validator checks every generated state machine
# definition, mermaid (with jsdom) parses every generated diagram.
TOOLS ?= .tools
NPM_TOOLS := asl-validator@4.0.0 mermaid@11.17.2 jsdom@29.1.1

$(TOOLS)/.installed:
	npm install --prefix $(TOOLS) --no-save --no-audit --no-fund $(NPM_TOOLS)
	touch $@

tools: $(TOOLS)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(PY) -m clinops_async.demo

# ruff; the import contracts in pyproject.toml ([tool.importlinter]: layers, independent backends, no
# cycles); the style guide's size limits (modules 500 lines, functions 60).
lint: install-dev
	$(VENV)/bin/ruff check clinops_async tests $(wildcard benchmarks/*.py)
	$(VENV)/bin/lint-imports
	$(PY) tools/check_sizes.py clinops_async

# mypy --strict on the package and on the tests.
typecheck: install-dev
	$(VENV)/bin/mypy clinops_async tests

# The whole suite on two worker processes (pytest-xdist), each with its own local servers: the
# machines this runs on have two cores.
unit: install-dev tools
	$(PY) -m pytest -n 2

test: lint typecheck unit

# The edit-test loop: every test not marked slow (no 200 MB artifacts, soak, long fault and property
# runs or whole subprocess sessions), on two worker processes (pytest-xdist), each with its own local
# servers. `make test` still runs everything.
test-fast: install-dev tools
	$(PY) -m pytest -m "not slow" -n 2

# The long soak: 2,000 artifacts in bulk while 5% of requests fail (make test runs a 300-artifact one).
soak: install-dev
	CLINOPS_SOAK_ARTIFACTS=2000 $(PY) -m pytest --timeout=1800 tests/resilience/test_soak.py

# The documentation site, offline, into site/ (warnings fail the build).
$(VENV)/.installed-docs: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[docs]'
	touch $@

docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# Benchmarks against the peers (s3fs, obstore, boto3, awswrangler, ...) in their own venv under
# benchmarks/.work; writes benchmarks/RESULTS.md. Full run ~15 minutes, quick run under 2.
bench:
	$(PYTHON) benchmarks/run.py

bench-quick:
	$(PYTHON) benchmarks/run.py --quick

# The TransferConfig defaults against part size and requests in flight; writes benchmarks/SWEEP.md.
sweep:
	$(PYTHON) benchmarks/sweep.py --runs 2

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache .demo-store
