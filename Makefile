# splitdriver.xen — developer entry points. Everything installs itself: run as root on Debian 12.
#   make test       install deps, then unit, integration, molecule, sanity, lint (what CI runs)
#   make test-fast  unit + integration only (inner loop, deps assumed installed)
#   make lab        boot the real-Xen lab under QEMU and run the fleet rollout against it
#   make bench      activation benchmark against the test XenStore daemon (prints a table)
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
BIN := $(VENV)/bin
# Ansible finds this checkout as the collection splitdriver.xen through a symlink farm
# (the same layout ansible-compat creates for molecule and ansible-lint).
COLLECTIONS := $(ROOT)/.ansible/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/splitdriver/xen
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PATH := $(BIN):$(PATH)
PYTEST := $(BIN)/python -m pytest
SCENARIOS ?= default xen

.PHONY: help deps collection-link test test-fast unit integration molecule sanity lint changelog lab lab-up lab-down lab-status bench clean

help:
	@sed -n '2,6p' Makefile

deps:
	@bash scripts/install-deps.sh

collection-link:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@[ -L $(COLLECTION_LINK) ] || ln -sfn $(ROOT) $(COLLECTION_LINK)

test: deps collection-link
	$(MAKE) unit integration molecule sanity lint

test-fast: collection-link unit integration

unit: collection-link
	$(PYTEST) tests/unit

integration: collection-link
	$(PYTEST) tests/integration

molecule: collection-link
	bash scripts/molecule.sh $(SCENARIOS)

sanity:
	bash scripts/sanity.sh

lint: collection-link
	$(BIN)/ansible-lint --profile production
	$(BIN)/antsibull-changelog lint

changelog:
	$(BIN)/antsibull-changelog lint

lab: deps collection-link
	bash lab/run.sh

lab-up: deps collection-link
	bash lab/lab.sh up

lab-down:
	bash lab/lab.sh down

lab-status:
	@bash lab/lab.sh status

# Not a pass/fail test: prints the timing table of benchmarks/README.md.
bench: collection-link
	$(BIN)/python benchmarks/bench.py
	$(BIN)/python benchmarks/contention.py

clean:
	rm -rf .ansible .pytest_cache tests/output
