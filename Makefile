# nslb: `make run` and `make test` are all the set-up a fresh Debian machine needs.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := haproxy keepalived socat iproute2 nftables conntrack curl wrk arping iputils-ping \
	procps psmisc postgresql chromium chromium-driver
STAMP_APT := $(VENV)/.apt-done
STAMP_PIP := $(VENV)/.pip-done
ANSIBLE_VENV := .venv-ansible
ANSIBLE_REQ := tests/contract/ansible/requirements.txt
STAMP_ANSIBLE := $(ANSIBLE_VENV)/.pip-done
ARGS ?=

.PHONY: help setup ansible run test test-fast lint bench bench-quick clean

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: $(STAMP_APT) $(STAMP_PIP) ## install system packages and the Python environment (idempotent)

$(STAMP_APT): Makefile
	@mkdir -p $(VENV)
	@if [ "$$(id -u)" = 0 ]; then \
	  missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  fi; \
	else echo "not root: skipping apt-get (need: $(APT_PACKAGES))"; fi
	@touch $@

$(STAMP_PIP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

ansible: $(STAMP_ANSIBLE) ## the Ansible venv (.venv-ansible) the contract tier runs playbooks with

$(STAMP_ANSIBLE): $(ANSIBLE_REQ)
	@test -x $(ANSIBLE_VENV)/bin/python || $(PY) -m venv $(ANSIBLE_VENV)
	$(ANSIBLE_VENV)/bin/pip install -q --upgrade pip
	$(ANSIBLE_VENV)/bin/pip install -q -r $(ANSIBLE_REQ)
	@touch $@

run: setup ## start nslb (API, worker, identity) on 127.0.0.1:9876; state in /var/lib/nslb
	$(BIN)/nslb serve $(ARGS)

test: setup ansible ## run the whole suite: lint, unit, functional, contract, integration (root)
	$(MAKE) lint
ifeq ($(strip $(ARGS)),)
	tests/run_lanes.sh $(BIN)
else
	$(BIN)/pytest -q -ra $(ARGS)
endif

test-fast: setup ## unit + functional only
	$(BIN)/pytest -q -ra tests/unit tests/functional $(ARGS)

lint: setup ## ruff + mypy
	$(BIN)/ruff check nslb tests bench
	$(BIN)/mypy

bench: setup ## full benchmarks (up to 20 min), writes bench/results/latest.json
	$(BIN)/python -m bench.run --full

bench-quick: setup ## quick benchmarks (under 5 min)
	$(BIN)/python -m bench.run --quick

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) $(ANSIBLE_VENV) .pytest_cache .mypy_cache .ruff_cache
