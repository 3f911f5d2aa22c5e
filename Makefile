# splitdriver.xen — developer entry points. Everything installs itself: run as root on Debian 12.
#   make test       install deps, then unit, integration, molecule, sanity, lint, docs (what CI runs)
#   make test-fast  unit + integration only (inner loop, deps assumed installed)
#   make lab        boot the real-Xen lab under QEMU and run the fleet rollout against it
#   make bench      activation benchmark against the test XenStore daemon (prints a table)
#   make docs       render the collection's docs to HTML: build/docs/build/html/index.html
#   make compat     unit, integration and sanity tests on the oldest supported ansible-core (2.17)
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
# Publishing tools (docs, galaxy-importer) live in a venv of their own: requirements-publish.txt
# says why.
PUBLISH_VENV := $(ROOT)/.cache/publish-venv
PUBLISH_BIN := $(PUBLISH_VENV)/bin
DOCS_DIR := $(ROOT)/build/docs

.PHONY: help deps publish-deps collection-link test test-fast unit integration molecule sanity compat lint changelog docs lab lab-up lab-down lab-status bench clean

help:
	@sed -n '2,8p' Makefile

deps:
	@bash scripts/install-deps.sh

publish-deps: $(PUBLISH_VENV)/.installed

$(PUBLISH_VENV)/.installed: requirements-publish.txt
	[ -x $(PUBLISH_BIN)/python ] || /usr/bin/python3 -m venv $(PUBLISH_VENV)
	$(PUBLISH_BIN)/python -m pip install -q --disable-pip-version-check -r requirements-publish.txt
	touch $@

collection-link:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@[ -L $(COLLECTION_LINK) ] || ln -sfn $(ROOT) $(COLLECTION_LINK)

test: deps collection-link
	$(MAKE) unit integration molecule sanity lint docs

test-fast: collection-link unit integration

unit: collection-link
	$(PYTEST) tests/unit

integration: collection-link
	$(PYTEST) tests/integration

molecule: collection-link
	bash scripts/molecule.sh $(SCENARIOS)

sanity:
	bash scripts/sanity.sh

# The same tests on ansible-core 2.17, the oldest meta/runtime.yml admits, from a venv of its
# own (requirements-2.17.txt); scripts/compat.sh says which integration tests run there.
compat: collection-link
	bash scripts/compat.sh

lint: collection-link publish-deps
	$(BIN)/ansible-lint --profile production
	$(BIN)/antsibull-changelog lint
	PATH=$(PUBLISH_BIN):$$PATH $(PUBLISH_BIN)/antsibull-docs lint-collection-docs --plugin-docs .
	$(PUBLISH_BIN)/python docs/docsite.py guides --check

changelog:
	$(BIN)/antsibull-changelog lint

# The docsite as docs.ansible.com would render it: plugins, roles, and the guides of docs/ as
# extra docs (docs/docsite/). Part of `make test` (about 15 s once the publish venv exists): a
# Sphinx warning fails it. Offline, links into the Ansible and Python docs stay unresolved
# (docs/docsite.py).
docs: collection-link publish-deps
	$(PUBLISH_BIN)/python docs/docsite.py guides
	rm -rf $(DOCS_DIR)
	mkdir -p $(DOCS_DIR)/rst
	chmod og-w $(DOCS_DIR)/rst
	cd $(DOCS_DIR) && PATH=$(PUBLISH_BIN):$$PATH $(PUBLISH_BIN)/antsibull-docs sphinx-init --use-current \
	    --squash-hierarchy --fail-on-error --project splitdriver.xen --title splitdriver.xen \
	    --html-short-title splitdriver.xen --copyright "splitdriver.xen developers" \
	    --dest-dir . splitdriver.xen >/dev/null
	cd $(DOCS_DIR) && PATH=$(PUBLISH_BIN):$$PATH $(PUBLISH_BIN)/antsibull-docs \
	    --config-file antsibull-docs.cfg collection --use-current --squash-hierarchy \
	    --fail-on-error --cleanup everything --dest-dir rst splitdriver.xen
	cd $(DOCS_DIR) && $(PUBLISH_BIN)/sphinx-build -M html rst build -c . -q -w warnings.log
	$(PUBLISH_BIN)/python docs/docsite.py warnings $(DOCS_DIR)/warnings.log
	@echo "docs: $(DOCS_DIR)/build/html/index.html"

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
	rm -rf .ansible .pytest_cache tests/output build
