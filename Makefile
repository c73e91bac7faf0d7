# Salon's two entry points for a fresh machine: `make run` and `make test`.
# Each creates .venv and installs what is missing first (CPU build of torch, see constraints/cpu.txt).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.salon-installed
CONSTRAINTS ?= constraints/cpu.txt

.PHONY: install demo run test test-fast lint format catalogue clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --constraint $(CONSTRAINTS) --editable '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m bot demo --out demo-output

run: $(STAMP)
	$(PY) -m bot

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest

# The fast layer: domain, store, in-memory pool and loopback tests; no worker process, no browser,
# no end-to-end bot (under a minute on two cores). `make test` runs every layer.
test-fast: lint
	$(PY) -m pytest -m "not worker and not e2e and not browser"

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Every text a member reads, for translators (see bot/catalogue.py); a test says when it is behind.
catalogue: $(STAMP)
	$(VENV)/bin/pybabel extract --no-location --omit-header --sort-output -k _ -k N_ -k ngettext:1,2 \
		-F babel.cfg -o bot/locale/salon.pot bot cogs

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
