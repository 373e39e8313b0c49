# Queue Services — the two set-up commands are `make run` and `make test` (see README).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_SAM := .venv-sam
PY := $(VENV)/bin/python
SAM := $(VENV_SAM)/bin/sam
SAM_CLI_VERSION := 1.170.0
# checkov pins old boto3 and packaging: a venv of its own, like SAM CLI.
VENV_CHECKOV := .venv-checkov
CHECKOV_VERSION := 3.3.30
# sam build needs the Lambda runtime's Python (3.13) on PATH; pyenv ships it on these machines.
PY313_BIN ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin) $(wildcard /root/.pyenv/versions/3.13*/bin))
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1
FUNCTIONS := $(wildcard functions/*/app.py)

.PHONY: help create-key venv venv-sam venv-checkov browser checkov lint format typecheck test test-unit test-integration test-e2e cfn-lint sam-validate run build deploy bench bench-bullmq clean

help:
	@echo "make run     start the local stack (API, emulator, pollers, scheduler, provider sink)"
	@echo "make test    create .venv, install, lint, type-check, run every test tier, lint the template"
	@echo "make create-key ADMIN=1 | WORKSPACE=<id> [STACK=<name>]   a first key, straight into the keys table"
	@echo "make lint | build | deploy | bench | bench-bullmq | clean"

$(VENV)/.installed: requirements-dev.txt layers/core/requirements.txt cli/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@# qs, the command line (cli/): a console script in .venv/bin, outside the Lambda layer.
	$(PY) -m pip install --quiet -e cli
	touch $@

$(VENV_SAM)/.installed:
	test -x $(VENV_SAM)/bin/python || $(PYTHON) -m venv $(VENV_SAM)
	$(VENV_SAM)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_SAM)/bin/python -m pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)
	touch $@

$(VENV_CHECKOV)/.installed:
	test -x $(VENV_CHECKOV)/bin/python || $(PYTHON) -m venv $(VENV_CHECKOV)
	$(VENV_CHECKOV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_CHECKOV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

# The dashboard's browser test (tests/e2e/test_dashboard_page.py) drives Debian's chromium through Playwright:
# installed here when missing (apt-get, as root or with sudo), never downloaded by Playwright itself.
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
		echo "installing Debian's chromium for the browser test"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -q >/dev/null && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }; \
	}
	@test -x $(CHROMIUM) || { echo "could not install chromium ($(CHROMIUM)); the browser test needs it"; exit 1; }

venv: $(VENV)/.installed
venv-sam: $(VENV_SAM)/.installed
venv-checkov: $(VENV_CHECKOV)/.installed

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MAKE) --no-print-directory typecheck

typecheck: venv
	$(VENV)/bin/mypy
	@# Every handler is functions/<name>/app.py: check each on its own so the module names do not clash.
	for f in $(FUNCTIONS); do MYPYPATH=layers/core $(VENV)/bin/mypy --strict --ignore-missing-imports --allow-untyped-decorators "$$f" || exit 1; done

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

cfn-lint: venv
	$(VENV)/bin/cfn-lint template.yaml

sam-validate: venv-sam
	$(SAM) validate --lint

# Every skipped check carries its reason in template.yaml, next to the resource (Metadata.checkov.skip).
checkov: venv-checkov
	$(VENV_CHECKOV)/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet

test-unit: venv
	$(VENV)/bin/pytest tests/unit

test-integration: venv
	$(VENV)/bin/pytest tests/integration

test-e2e: venv browser
	$(VENV)/bin/pytest tests/e2e

# Two pytest workers (pytest-xdist), each test file kept on one worker: the e2e tier mostly waits for rate-
# limited drains, so the other worker's moto tests use the time. TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
test:
	@# The three virtual environments and the browser install side by side (mostly downloads).
	@$(MAKE) --no-print-directory -j4 venv venv-sam venv-checkov browser
	@$(MAKE) --no-print-directory lint
	$(VENV)/bin/pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)
	$(MAKE) --no-print-directory cfn-lint sam-validate checkov

# A key without any key: written straight into the keys table (local stack, or STACK's), printed once.
create-key: venv
	@test -n "$(ADMIN)$(WORKSPACE)" || { echo "usage: make create-key ADMIN=1 | WORKSPACE=<id> [STACK=<name>] [LABEL=<text>]"; exit 2; }
	@PYTHONPATH=layers/core $(PY) -m qs_cli.create_key $(if $(ADMIN),--admin,--workspace "$(WORKSPACE)") \
		$(if $(STACK),--stack "$(STACK)") $(if $(LABEL),--label "$(LABEL)")

run: venv
	$(PY) -m local_stack $(ARGS)

build: venv-sam
	@test -n "$(PY313_BIN)" || { echo "sam build needs python3.13 on PATH (pyenv install 3.13)"; exit 1; }
	PATH="$(PY313_BIN):$$PATH" $(SAM) build

deploy: build
	$(SAM) deploy --guided

# The benchmarks (bench/RESULTS.md): matplotlib for their plots comes from requirements-bench.txt, here only.
bench: venv
	$(PY) -m pip install --quiet -r requirements-bench.txt
	@# Every benchmark on one local stack (and two faster ones for the scale runs); rewrites bench/RESULTS.md.
	$(PY) bench/run_all.py

# The replaced service's queue side by side (bench/bullmq.py): Debian's redis-server and nodejs, npm's bullmq.
bench-bullmq: venv
	$(PY) -m pip install --quiet -r requirements-bench.txt
	@command -v redis-server >/dev/null && command -v node >/dev/null && command -v npm >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q >/dev/null; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server nodejs npm >/dev/null; \
	}
	cd bench/bullmq && npm ci --no-audit --no-fund --loglevel=error
	$(PY) bench/bullmq.py

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
