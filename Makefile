# Portal: `make run` serves the portal on SQLite, `make test` runs every test. Both set
# everything up first and are fast on a second run.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# python3.12 on PATH first (a pyenv shim counts only if it really runs 3.12), then pyenv's.
PYTHON312 ?= $(shell \
	if python3.12 -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1; then \
		command -v python3.12; \
	else \
		ls -d "$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)"/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -n 1; \
	fi)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
export PIP_PROGRESS_BAR := off

.PHONY: help venv deps dev-deps ops-tools crd-models run test test-fast lint format migrate browser check-deploy bench lambda-package aws-stacks aws-settings clean

help:
	@echo "make run    set up .venv, migrate, create the demo accounts and serve http://$(HOST):$(PORT)"
	@echo "make test   set up everything and run ruff and the whole test suite"
	@echo "make test-fast  the same without the tests marked slow (a quick loop while coding)"
	@echo "make lint   ruff check + ruff format --check"
	@echo "make bench  run the benchmarks in bench/"
	@echo "make lambda-package  build the Lambda zip offline (STAGE=production)"
	@echo "make aws-stacks STAGE=dev    create or update the stage's CloudFormation stacks (ops/aws)"
	@echo "make aws-settings STAGE=dev  write the stacks' outputs into zappa_settings.json"

$(PY):
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found: install it (e.g. pyenv install 3.12) or set PYTHON312=/path/to/python3.12" >&2; exit 1; }
	$(PYTHON312) -m venv $(VENV)

# Stamps make a second run skip pip when the requirement files did not change.
$(VENV)/.stamp-deps: requirements.txt | $(PY)
	$(PIP) install -r requirements.txt
	@touch $@

$(VENV)/.stamp-dev-deps: requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install -r requirements-dev.txt
	@touch $@ $(VENV)/.stamp-deps

# checkov pins versions that clash with the app's, so it lives in a venv of its own.
TOOLS_VENV := .venv-tools
$(TOOLS_VENV)/.stamp-ops: requirements-ops.txt | $(PY)
	$(PYTHON312) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip --disable-pip-version-check -q install -r requirements-ops.txt
	@touch $@

# The KEDA and External Secrets CRD validators (npm packages) the ops tests run offline.
CRD_MODELS := var/crd-models
# package-lock.json pins the whole tree; npm ci installs exactly that.
$(CRD_MODELS)/.stamp: tests/ops/crd_models/package.json tests/ops/crd_models/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js and npm (apt-get install nodejs npm) for the CRD checks in tests/ops" >&2; exit 1; }
	mkdir -p $(CRD_MODELS)
	cp tests/ops/crd_models/package.json tests/ops/crd_models/package-lock.json $(CRD_MODELS)/
	cd $(CRD_MODELS) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

venv: $(PY)
deps: $(VENV)/.stamp-deps
crd-models: $(CRD_MODELS)/.stamp
dev-deps: $(VENV)/.stamp-dev-deps
ops-tools: $(TOOLS_VENV)/.stamp-ops

migrate: deps
	DEBUG=1 $(PY) manage.py migrate --noinput -v 0

run: deps migrate
	@$(PY) -m portal.dotenv --public-base-url $${PUBLIC_BASE_URL:-http://$(HOST):$(PORT)}
	@DEBUG=1 $(PY) manage.py portal_demo
	@echo "Serving http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	DEBUG=1 PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://$(HOST):$(PORT)} $(PY) manage.py runserver $(HOST):$(PORT)

# Headless Chromium for the browser tests, from Debian's packages (needs root and apt).
browser:
	@if [ -x /usr/bin/chromium ] || command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests"; \
		(apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)) \
		|| echo "warning: could not install chromium; browser tests will skip" >&2; \
	else echo "note: no chromium and no root apt; browser tests will skip" >&2; fi

lint: dev-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: dev-deps
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: dev-deps ops-tools crd-models browser lint
	$(VENV)/bin/pytest -n auto $(PYTEST_ARGS)

test-fast: dev-deps ops-tools crd-models lint
	$(VENV)/bin/pytest -n auto -m "not slow" $(PYTEST_ARGS)

check-deploy: deps
	DEBUG=0 SECRET_KEY="$$(head -c 48 /dev/urandom | base64)" ALLOWED_HOSTS=portal.example.com \
	SECURE_SSL_REDIRECT=1 SECURE_HSTS_SECONDS=31536000 SECURE_HSTS_INCLUDE_SUBDOMAINS=1 SECURE_HSTS_PRELOAD=1 \
	FACES_MASTER_KEY="$$(head -c 32 /dev/urandom | base64)" \
	$(PY) manage.py check --deploy --fail-level WARNING

STAGE ?= production
# The Lambda zip as `zappa package` builds it, offline, cached under var/lambda/.
lambda-package: dev-deps
	$(PY) -c 'from tests.deploy.lambda_build import build_package as b; p = b("$(STAGE)"); print(f"{p.zip_path}: {p.zipped_bytes/2**20:.1f} MiB zipped, {p.unzipped_bytes/2**20:.1f} MiB unzipped")'

# The AWS account as CloudFormation (ops/aws/stacks.yaml has the order), then its outputs into
# zappa_settings.json. Both use the AWS credentials of the shell; ZAPPA_STAGE picks a Zappa stage
# that runs on STAGE's stacks (e.g. production-image).
aws-stacks: dev-deps
	$(PY) -m ops.aws.deploy --stage $(STAGE)

aws-settings: dev-deps
	$(PY) -m ops.aws.settings --stage $(or $(ZAPPA_STAGE),$(STAGE)) --aws-stage $(STAGE)

# bench/load.py's helpers (its Locust file and its baseline site) and the helpers the benchmarks
# share (bench/_common.py) are not benchmarks themselves.
BENCHMARKS := $(filter-out bench/locustfile.py bench/load_site.py bench/_common.py,$(wildcard bench/*.py))
bench: dev-deps
	@for b in $(BENCHMARKS); do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(TOOLS_VENV) staticfiles var/test-artifacts var/lambda $(CRD_MODELS)
