# Preflog — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv: use the one on PATH, else the pip-installed module (installed on first use).
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PY := $(UV) run --frozen python
PYTEST_ARGS ?=

.PHONY: help uv install run up test check lint fmt typecheck proto proto-check bench clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install -q uv

install: uv ## install every package of the workspace (one lock file) and GraphiQL's browser assets
	$(UV) sync --frozen
	@services/gateway/scripts/ensure_graphiql.sh

run: install ## install, then start the whole system (Postgres and NATS: configured, local, or embedded)
	$(UV) run --frozen preflog up

up: run

test: install proto-check lint typecheck ## the full test suite (lint, types, contract drift, every test)
	$(UV) run --frozen pytest $(PYTEST_ARGS)

check: test

lint: ## ruff
	$(UV) run --frozen ruff check libs services tests
	$(UV) run --frozen ruff format --check libs services tests

fmt: ## format the code
	$(UV) run --frozen ruff format libs services tests
	$(UV) run --frozen ruff check --fix libs services tests

typecheck: ## mypy (strict on libs/, default rules on the services)
	$(UV) run --frozen mypy libs/contracts/src libs/settings/src libs/observability/src libs/eventstore/src libs/messaging/src services/gateway/src services/ingest/src services/labeling/src services/review/src services/export/src services/cli/src

proto: install ## regenerate contracts in proto/ (event schemas, golden examples, AsyncAPI, GraphQL SDL)
	$(UV) run --frozen python -m preflog_cli.contracts --write
	$(UV) run --frozen python -m preflog_gateway.sdl write

proto-check: ## fail if proto/ differs from what the code generates, or a contract broke
	$(UV) run --frozen python -m preflog_cli.contracts --check
	$(UV) run --frozen python -m preflog_gateway.sdl check

bench: install ## benchmarks; JSON lines into bench-results/ and on stdout
	@mkdir -p bench-results
	$(UV) run --frozen python -m preflog_testing.bench | tee bench-results/bench.jsonl

clean: ## remove local state (.preflog data dir, caches)
	rm -rf .preflog .pytest_cache .mypy_cache .ruff_cache bench-results
