# The two commands of the README: `make run` (serve on SQLite with demo data) and `make test`.
# Both set up everything they need on a fresh machine (virtualenv, packages, system packages).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test test-quick system postgres bench bench-full lint clean soak

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

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: $(STAMP) system postgres lint
	mkdir -p test-artifacts
	$(BIN)/pytest --junitxml=test-artifacts/junit.xml $(PYTEST_ARGS)

test-quick: $(STAMP)
	$(BIN)/pytest -x -q -m "not slow and not browser" $(PYTEST_ARGS)

# two minutes of mixed load against a real server (the normal run does 20 s of it)
soak: $(STAMP) postgres
	LEDGER_SOAK_SECONDS=$${SOAK_SECONDS:-120} $(BIN)/pytest -q -s -p no:cacheprovider --timeout 600 tests/test_soak.py

bench: $(STAMP) system postgres
	$(BIN)/python -m bench --size small

bench-full: $(STAMP) system postgres
	$(BIN)/python -m bench --size full --engine postgresql

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache
