# Two commands for a new machine: `make demo` (the daemon against platform-repo-example on a local
# cluster) and `make test` (lint, types, layers and the whole test suite on a real local cluster).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
CLUSTER ?= demo
LISTEN ?= 127.0.0.1:8080

.PHONY: help install nca binaries test-binaries cluster demo demo-down test lint unit bench cold-path clean

help:
	@echo "make demo   - local control plane + the Dockyard daemon on platform-repo-example"
	@echo "make test   - ruff, mypy, import-linter and the whole pytest suite"

$(STAMP): pyproject.toml
	@command -v go >/dev/null || { echo "Go is required to build the local control plane"; exit 1; }
	@# git, and what commit-signature checks run: ssh-keygen (SSH signatures) and gpg (OpenPGP);
	@# chromium for the console's browser tests (Playwright drives it; it never downloads one).
	@missing=""; for t in git:git ssh-keygen:openssh-client gpg:gnupg chromium:chromium; do \
		command -v $${t%%:*} >/dev/null || missing="$$missing $${t#*:}"; done; \
		if [ -n "$$missing" ]; then apt-get update -qq && apt-get install -y -qq $$missing; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

# network-config-analyzer, the independent judge of the reachability tests. It pins its own
# dependencies (PyYAML among them), so it lives in a venv of its own, never in $(VENV).
NCA_VENV ?= .venv-nca
NCA_VERSION := 2.1.0
NCA_STAMP := $(NCA_VENV)/.installed-$(NCA_VERSION)

$(NCA_STAMP):
	$(PYTHON) -m venv $(NCA_VENV)
	$(NCA_VENV)/bin/pip install -q network-config-analyzer==$(NCA_VERSION)
	@touch $@

nca: $(NCA_STAMP)

# The cluster's binaries (what the demo needs); the tests add promtool, sops and kube-score.
binaries: install
	hack/localcluster/build.sh

test-binaries: install
	hack/localcluster/build.sh --tests

cluster: binaries
	$(BIN)/dockyard dev-cluster up --name $(CLUSTER)

# Printed by the daemon once the first sync is done, one line each.
DEMO_NOTE = 'the demo is ready. In another terminal try:' \
  '  eval "$$($(BIN)/dockyard dev-cluster env --name $(CLUSTER))"' \
  '  kubectl get deploy,sts,hpa,pvc -A -l app.kubernetes.io/managed-by=dockyard' \
  '  curl -s $(LISTEN)/status; $(BIN)/dockyard history' \
  '  the console: http://$(LISTEN)/login with the first word of $(DEMO_TOKENS) (an admin)' \
  'then change an image in platform-repo-example/tenants/shop/apps/api.yaml and watch this log.' \
  'Ctrl-C stops the daemon; make demo-down stops the cluster.'

# The console's sign-in for the demo: one token of the example's platform-team (admin), made once.
DEMO_TOKENS := $(VENV)/demo-console-tokens

demo: cluster
	@test -s $(DEMO_TOKENS) || $(BIN)/python -c \
		'import secrets; print(secrets.token_hex(24), "demo@example.com", "platform-team")' > $(DEMO_TOKENS)
	$(BIN)/dockyard run --repo platform-repo-example \
		--kubeconfig "$$($(BIN)/dockyard dev-cluster kubeconfig --name $(CLUSTER) | tail -n1)" \
		--listen $(LISTEN) --console-tokens $(DEMO_TOKENS) --ready-note "$$(printf '%s\n' $(DEMO_NOTE))"

demo-down: install
	$(BIN)/dockyard dev-cluster down --name $(CLUSTER)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: install nca
	$(BIN)/pytest -m "not cluster"

test: lint test-binaries nca
	$(BIN)/pytest

# What a new machine goes through, proven on a warm one (CI runs it): the asset steps against an
# empty Go module cache, the missing-Go and no-proxy errors, and cluster start-up with every binary
# evicted from the page cache.
cold-path: test-binaries
	hack/ci/cold-path.sh

bench: binaries
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(NCA_VENV) .mypy_cache .ruff_cache .pytest_cache
