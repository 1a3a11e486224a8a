# Tocsin: the two commands are `make run` and `make test` (see README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONFIG ?= examples/tocsin.yaml

.PHONY: venv sysdeps lint test test-fast run bench clean

$(STAMP): pyproject.toml
	@bash scripts/pydeps.sh "$(PY)" "$(VENV)"
	@touch $(STAMP)

venv: $(STAMP)

sysdeps:
	@bash scripts/sysdeps.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: venv sysdeps lint
	$(BIN)/pytest -q -p no:cacheprovider --cov --cov-report=term

test-fast: venv
	$(BIN)/pytest -q -x -m "not e2e"

run: venv
	$(BIN)/tocsin serve --config $(CONFIG) --dev

bench: venv
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache
