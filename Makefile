# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test

.PHONY: demo test lint screenshots bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# An editable install compiles nothing; precompiling saves every server
	# start ~50 ms where PYTHONDONTWRITEBYTECODE keeps Python from caching.
	$(BIN)/python -m compileall -q backend mttui bench > /dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mttui --demo

# Lint first: a broken layer contract fails fast, before the 3-minute suite.
test: lint
	$(BIN)/python -m pytest -n 2 tests

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
