# Two commands matter: `make serve` (set up, then run the gateway on embedded defaults) and
# `make test` (set up, then lint, type-check and run the whole test suite).
VENV ?= .venv
BIN := $(VENV)/bin
# Test processes (pytest-xdist; a file's tests stay in one process, with its module fixtures).
# 2 by default: on the 2-core CI machine the suite took 9.5 min in one process, 5.8 in two.
TEST_JOBS ?= 2

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
	$(BIN)/pytest -q -n $(TEST_JOBS) --dist loadfile

test: lint typecheck pytest

bench-quick: setup
	$(BIN)/bhytgate bench --quick
