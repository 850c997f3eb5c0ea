# The two commands a newcomer needs: `make dev` runs it, `make test` tests it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: dev test lint bench smoke clean

$(STAMP): requirements-dev.txt api/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

## dev: run the whole product on this machine (API on :8000, embedded AWS on :5000)
dev: $(STAMP)
	$(PY) -m local

## test: lint, then every test layer
test: lint
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

## bench: print the figures and write bench/results.json
bench: $(STAMP)
	$(PY) -m bench

## smoke: create, post, read back, list and delete against a deployed API
smoke: $(STAMP)
	@test -n "$(URL)" -a -n "$(POOL)" || { echo "usage: make smoke URL=<api_url output> POOL=<user_pool_id output>"; exit 2; }
	RRWEB_SMOKE_URL=$(URL) RRWEB_SMOKE_USER_POOL_ID=$(POOL) $(PY) -m pytest tests/smoke -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
