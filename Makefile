# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test
RUN_STAMP := $(VENV)/.installed

.PHONY: demo test lint screenshots bench clean install pg

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# An editable install compiles nothing; precompiling saves every server
	# start ~50 ms where PYTHONDONTWRITEBYTECODE keeps Python from caching.
	$(BIN)/python -m compileall -q backend mttui bench > /dev/null
	touch $(STAMP)

# The demo needs only the runtime dependencies (no test tools).
$(RUN_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m compileall -q backend mttui > /dev/null
	touch $(RUN_STAMP)

demo: $(RUN_STAMP)
	$(BIN)/mttui --demo

# `backend` and `mttui` on your PATH: pipx when it is there, else a user install
# (~/.local/bin). Or run them from .venv/bin/ after `make demo` / `make test`.
install:
	@if command -v pipx > /dev/null; then pipx install --force .; \
	else $(PYTHON) -m pip install --user .; fi

# Lint first: a broken layer contract fails fast, before the 3-minute suite.
test: lint pg
	$(BIN)/python -m pytest -n 2 tests

# tests/central need a real PostgreSQL server (docs/central.md): Debian's
# package, installed here when no initdb is found and we are root with apt-get.
# No default cluster is created: the tests start their own throwaway one.
pg:
	@if ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 || command -v initdb > /dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
		mkdir -p /etc/postgresql-common && \
		{ [ -e /etc/postgresql-common/createcluster.conf ] || echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf; } && \
		DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			-o Dpkg::Options::=--force-confold postgresql; \
	else echo "make pg: PostgreSQL is not installed and cannot be (not root, or no apt-get): tests/central will skip"; fi

lint: $(STAMP)
	$(BIN)/ruff check backend mttui tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

screenshots: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,screenshots]'
	$(BIN)/python screenshots/make_screenshots.py

# The Redis rows need redis-server on PATH (apt-get install redis-server); without
# it they are skipped with a note. Installing system packages is left to the user.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/backend bench --write-docs

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
