# Tocsin: the two commands are `make run` and `make test` (see README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONFIG ?= examples/tocsin.yaml

.PHONY: venv sysdeps lint test test-fast soak test-ha run bench clean screenshots

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
	$(BIN)/pytest -q -p no:cacheprovider --durations=30 --cov --cov-report=term

test-fast: venv
	$(BIN)/pytest -q -x -m "not e2e"

# The model-based concurrency test of incident state with many examples and fresh randomness on SQLite and
# PostgreSQL (`make test` runs 25 reproducible ones); prints how many ran. SOAK_EXAMPLES per backend.
SOAK_EXAMPLES ?= 2000
soak: venv sysdeps
	TOCSIN_SOAK_EXAMPLES=$(SOAK_EXAMPLES) $(BIN)/pytest -q -s -p no:cacheprovider \
		tests/webhook/incidents/test_model_concurrency.py

# The HA drill (tests/ha): three replicas behind HAProxy, PostgreSQL primary + synchronous standby, two
# Alertmanagers fed by Prometheus; SIGKILL and SIGSTOP of a replica, promotion of the standby, restart of an
# Alertmanager, HA_SEEDS times each; prints the table of counts per fault (docs/operations.md) and writes it to
# HA_REPORT. `make test` runs one seed per fault.
HA_SEEDS ?= 5
HA_REPORT ?= var/ha-drill.md
test-ha: venv sysdeps
	TOCSIN_HA_SEEDS=$(HA_SEEDS) TOCSIN_HA_REPORT=$(HA_REPORT) $(BIN)/pytest -q -s -p no:cacheprovider tests/ha

# The console's screenshots in docs/img (console-*.png), taken by its browser tests with realistic data.
screenshots: venv sysdeps
	TOCSIN_SCREENSHOTS=1 $(BIN)/pytest -q -p no:cacheprovider tests/webhook/console/test_quality.py

run: venv
	$(BIN)/tocsin serve --config $(CONFIG) --dev

bench: venv
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache
