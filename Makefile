# Two commands matter: `make serve` (set up, then run the gateway on embedded defaults) and
# `make test` (set up, then lint, type-check and run the whole test suite).
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup serve cluster test lint typecheck pytest bench-quick

setup:
	./scripts/bootstrap.sh

serve: setup
	$(BIN)/bhytgate serve

# Three replicas over PostgreSQL on 127.0.0.1:5432 ($BHYTGATE_CLUSTER_DB, $BHYTGATE_CLUSTER_HOME).
cluster: setup
	$(BIN)/bhytgate cluster

lint: setup
	$(BIN)/ruff check proto server clients benchmarks tests
	$(BIN)/ruff format --check server clients benchmarks tests

typecheck: setup
	$(BIN)/mypy

pytest: setup
	./scripts/ensure_chromium.sh
	$(BIN)/pytest -q

test: lint typecheck pytest

bench-quick: setup
	$(BIN)/bhytgate bench --quick
