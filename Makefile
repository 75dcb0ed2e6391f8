# Batch Manager: `make run` starts everything on embedded defaults; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi

.PHONY: run test test-sqlite test-postgres lint fmt bench migrate seed clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

## run: install, migrate, seed demo data if empty, start web + worker + scheduler
run: $(VENV)/.installed
	@scripts/ensure-debian-tools gpg:gnupg
	scripts/run

## test: the whole suite on SQLite + embedded Redis, then on PostgreSQL + Redis when
## TEST_DATABASE_URL / TEST_REDIS_URL are set
test: $(VENV)/.dev-installed
	@scripts/ensure-chromium
	@scripts/ensure-debian-tools gpg:gnupg 7z:p7zip-full
	env -u TEST_DATABASE_URL -u TEST_REDIS_URL $(BIN)/python -m pytest $(PYTEST_ARGS)
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== PostgreSQL leg: $$TEST_DATABASE_URL, Redis $${TEST_REDIS_URL:-embedded} =="; \
		$(BIN)/python -m pytest -m "not browser" $(PYTEST_ARGS); \
	fi

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(VENV)/.dev-installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench $(BENCH_ARGS)

migrate: $(VENV)/.installed
	$(FLASK) db upgrade

seed: $(VENV)/.installed
	$(FLASK) demo seed

clean:
	rm -rf instance/ .pytest_cache bench/results
