# microbss developer entry points. `make run` and `make test` are all a fresh clone needs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTOS := $(wildcard proto/microbss/v1/*.proto)

.PHONY: install run test test-unit test-integration test-e2e lint format bench proto migration-initial clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	touch $(STAMP)

# Regenerate the committed gRPC stubs from proto/ (tests/unit/test_proto_stubs.py fails on drift).
proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=src --pyi_out=src --grpc_python_out=src $(PROTOS)

run: install
	$(BIN)/python -m microbss run

test: install
	bash scripts/test

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: install
	$(BIN)/python -m bench

# Rewrite the (not yet released) initial migration from storage/tables.py.
migration-initial: install
	rm -f src/microbss/engine/storage/migrations/versions/0001_initial.py
	rm -f var/migration-scratch.sqlite3
	MICROBSS_ENGINE_DB_URL=sqlite:///var/migration-scratch.sqlite3 $(BIN)/alembic -c src/microbss/engine/storage/alembic.ini revision --autogenerate --rev-id 0001 -m initial
	rm -f var/migration-scratch.sqlite3

clean:
	rm -rf $(VENV) var/*.sqlite3* .pytest_cache .mypy_cache .ruff_cache
