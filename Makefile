# cyclecare — `make run` to try it, `make test` to check it.
#
# Settings default to config.settings.local (manage.py) and config.settings.test (pytest);
# DATABASE_URL / REDIS_URL switch to PostgreSQL / Redis, otherwise SQLite and a filesystem
# Celery broker under var/ are used, so nothing needs to be running first.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install: pip runs again only when a requirements file changes.
STAMP := $(VENV)/.requirements-installed
PORT ?= 8000
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv run test lint bench

help:
	@echo "make run    start web, worker and beat on http://127.0.0.1:$(PORT)/ (demo data included)"
	@echo "make test   run the test suite (PYTEST_ARGS='...' passes options to pytest)"
	@echo "make lint   ruff check and the import contracts (lint-imports)"
	@echo "make bench  run every benchmark in bench/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(STAMP)

# honcho gives the first Procfile entry (web) PORT=$(PORT); PATH makes the Procfile's
# python and celery the venv's.
run: venv
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	CYCLECARE_SITE_URL="$${CYCLECARE_SITE_URL:-http://127.0.0.1:$(PORT)}" $(BIN)/python manage.py seed_demo
	@echo
	@echo "cyclecare: http://127.0.0.1:$(PORT)/   (admin: http://127.0.0.1:$(PORT)/admin/; Ctrl-C stops it)"
	@echo
	CYCLECARE_SITE_URL="$${CYCLECARE_SITE_URL:-http://127.0.0.1:$(PORT)}" \
		PATH="$(CURDIR)/$(BIN):$$PATH" VIRTUAL_ENV="$(CURDIR)/$(VENV)" exec $(BIN)/honcho start --port $(PORT)

test: venv
	$(BIN)/pytest -n auto $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: venv
	mkdir -p var
	@scripts=$$(find bench -maxdepth 1 -name '*.py' ! -name '_*' | sort); \
	if [ -z "$$scripts" ]; then echo "bench: no benchmark scripts in bench/" >&2; exit 1; fi; \
	for script in $$scripts; do \
		echo "== $$script"; \
		PYTHONPATH="$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH}" $(BIN)/python "$$script"; \
	done
