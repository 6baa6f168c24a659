# Kayisu: `make run` starts the local stack, `make test` runs every check. Both set up what they
# need on a fresh machine (Python 3.11 virtual environments in .venv and .venv-sam).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
# Plain `sam validate` needs a region and would otherwise probe for credentials.
SAM_OFFLINE_ENV := AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=offline AWS_SECRET_ACCESS_KEY=offline

.PHONY: run test lint typecheck validate unit integration build bench openapi clean help browser-deps deploy-storefront

help:
	@echo "make run        start the local stack with demo data (ARGS='--port 3001 --no-demo')"
	@echo "make test       ruff, mypy, sam validate (--lint too), sam build and every test"
	@echo "make build      sam build (arm64, offline except PyPI)"
	@echo "make bench      benchmarks (not part of the tests)"
	@echo "make browser-deps  Debian's chromium (+ a CJK font) for the browser tests, when missing (root or sudo)"
	@echo "make deploy-storefront  upload storefront/ and console/ to the deployed stack (CONFIG_ENV=prod; DEPLOY_ARGS=--dry-run)"
	@echo "make clean      remove environments, builds and local state"

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt pyproject.toml sdk/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m pip install --quiet --no-deps -e sdk/python
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r requirements-sam.txt
	touch $@

run: $(VENV)/.installed
	$(PY) -m local run $(ARGS)

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: $(VENV)/.installed
	$(PY) -m mypy layers/common/kayisu cli/kayisu_cli local tests bench functions

validate: $(SAM_VENV)/.installed
	$(SAM) validate --lint
	$(SAM_OFFLINE_ENV) $(SAM) validate

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit

integration: $(VENV)/.installed
	$(PY) -m pytest tests/integration

test: lint typecheck validate build browser-deps $(VENV)/.installed
	$(PY) -m pytest --durations=25

build: $(SAM_VENV)/.installed
	$(SAM) build

# The browser tests drive Debian's Chromium (never a browser downloaded by a test tool).
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei; \
	fi

CONFIG_ENV ?= default
deploy-storefront: $(VENV)/.installed
	$(PY) -m scripts.deploy_storefront --config-env $(CONFIG_ENV) $(DEPLOY_ARGS)

bench: $(VENV)/.installed
	$(PY) -m bench $(BENCH)

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .kayisu .pytest_cache .mypy_cache .ruff_cache test-artifacts
