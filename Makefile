# Two commands for a new machine: `make demo` (the daemon against platform-repo-example on a local
# cluster) and `make test` (lint, types, layers and the whole test suite on a real local cluster).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
CLUSTER ?= demo
LISTEN ?= 127.0.0.1:8080

.PHONY: help install binaries cluster demo demo-down test lint unit integration bench clean

help:
	@echo "make demo   - local control plane + the Dockyard daemon on platform-repo-example"
	@echo "make test   - ruff, mypy, import-linter and the whole pytest suite"

$(STAMP): pyproject.toml
	@command -v go >/dev/null || { echo "Go is required to build the local control plane"; exit 1; }
	@command -v git >/dev/null || { apt-get update -qq && apt-get install -y -qq git; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

binaries: install
	hack/localcluster/build.sh

cluster: binaries
	$(BIN)/dockyard dev-cluster up --name $(CLUSTER)

demo: cluster
	$(BIN)/dockyard run --repo platform-repo-example \
		--kubeconfig "$$($(BIN)/dockyard dev-cluster kubeconfig --name $(CLUSTER) | tail -n1)" \
		--listen $(LISTEN)

demo-down: install
	$(BIN)/dockyard dev-cluster down --name $(CLUSTER)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: install
	$(BIN)/pytest -m "not cluster"

test: lint binaries
	$(BIN)/pytest

bench: binaries
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
