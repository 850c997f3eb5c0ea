# The two commands a newcomer needs: `make dev` runs it, `make test` tests it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: dev test test-fast test-slow chromium lint site-lint site-test bench smoke preflight rebuild site clean

$(STAMP): requirements-dev.txt requirements.txt api/requirements.in
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet 'pip<26.3'  # chalice package drives pip and supports up to 26.2
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

SITE_STAMP := site/node_modules/.installed

$(SITE_STAMP): site/package.json site/package-lock.json
	cd site && npm ci --no-audit --no-fund
	touch $(SITE_STAMP)

## site: build the recorder, bookmarklet and pages into site/public/assets
site: $(SITE_STAMP)
	cd site && npm run build

## dev: run the whole product on this machine (site on :8080, API on :8000, embedded AWS on :5000)
dev: $(STAMP) site
	$(PY) -m local

# pytest-xdist: workers, and test files shared out whole (`loadfile`): a module's tests share
# its local stack or its recorded visit, and each worker starts the browser layer's
# package stack once. The slow layers mostly wait on the stack and the browser, so they
# take more workers than cores (docs/testing.md has the figures). Files go out in collection
# order, the modules marked `long` first (tests/conftest.py), not largest-count first.
TEST_WORKERS ?= 3
FAST_WORKERS ?= auto
SLOW := integration or e2e

CHROMIUM := /usr/bin/chromium

# The browser tests drive Debian's Chromium (Playwright downloads none here).
chromium:
	@test -x $(CHROMIUM) || { echo "make test needs Debian's Chromium at $(CHROMIUM): apt-get install chromium (./.ci/run installs it)"; exit 2; }

## test: lint, the recorder's unit tests, then every test layer (the browser tests need the built site)
test: chromium lint site-test site
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not serial"
	$(PY) -m pytest -p no:xdist -m serial

## test-fast: the in-process layers alone (unit, functional, infra): no local stack, no browser
# (the infra layer deploys the built site under Pulumi's mocks, which refuses an unbuilt one)
test-fast: $(STAMP) site
	$(PY) -m pytest -n $(FAST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not ($(SLOW))"

## test-slow: what test-fast leaves out: the local stack over HTTP (integration, smoke) and the browser tests
test-slow: chromium $(STAMP) site
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "($(SLOW)) and not serial"
	$(PY) -m pytest -p no:xdist -m "($(SLOW)) and serial"

## lint: ruff, and mypy (strict on api/ and infra/; pyproject.toml says which files)
lint: $(STAMP) site-lint
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

## site-lint: ESLint over the site's scripts
site-lint: $(SITE_STAMP)
	cd site && npm run --silent lint

## site-test: the recorder's unit tests (Node's test runner, site/test)
site-test: $(SITE_STAMP)
	cd site && npm test --silent

## preflight: read-only checks of what a first `pulumi up` of STACK needs (docs/deploy.md), with your AWS credentials
preflight: $(STAMP)
	$(if $(STACK),,$(error usage: make preflight STACK=<dev, prod or pr-<n>>))
	$(PY) -m ops.preflight --stack '$(STACK)'

## bench: print the figures and write bench/results.json
bench: $(STAMP) site
	$(PY) -m bench

## smoke: create, post, read back, list and delete against a deployed API (docs/deploy.md: the
## command, and the Cognito permissions it needs). The check is make's own, so `make -n` makes it too.
smoke: $(STAMP)
	$(if $(and $(URL),$(POOL)),,$(error usage: make smoke URL=<api_url output> POOL=<user_pool_id output>))
	RRWEB_SMOKE_URL='$(URL)' RRWEB_SMOKE_USER_POOL_ID='$(POOL)' $(PY) -m pytest tests/smoke -q

## rebuild: rewrite recordings' events from the raw archive (python -m ops.rebuild --help)
rebuild: $(STAMP)
	@test -n "$(ARGS)" || { echo 'usage: make rebuild ARGS="--recording=<id> --owner <owner id>" or ARGS="--since <UTC hour> --until <UTC hour>", plus --local for the local stack; see $(PY) -m ops.rebuild --help'; exit 2; }
	$(PY) -m ops.rebuild $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache site/node_modules site/public/assets
