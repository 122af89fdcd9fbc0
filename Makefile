# The two commands of the README: `make run` (serve on SQLite with demo data) and `make test`.
# Both set up everything they need on a fresh machine (virtualenv, packages, system packages).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test test-quick system postgres bench bench-full lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/ledger serve --host $${HOST:-127.0.0.1} --port $${PORT:-8000}

system:
	bash scripts/setup-system.sh

postgres:
	bash scripts/ensure-postgres.sh

test: $(STAMP) system postgres
	mkdir -p test-artifacts
	$(BIN)/lint-imports --config pyproject.toml
	$(BIN)/pytest --junitxml=test-artifacts/junit.xml $(PYTEST_ARGS)

test-quick: $(STAMP)
	$(BIN)/pytest -x -q -m "not slow and not browser" $(PYTEST_ARGS)

bench: $(STAMP) postgres
	$(BIN)/python -m bench --size small

bench-full: $(STAMP) postgres
	$(BIN)/python -m bench --size full

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache
