# Flow Command Centre — two commands on a fresh machine:
#   make run    set up everything, start the whole service with a demo economy, print the URL
#   make test   the whole suite against a real PostgreSQL and a real Kafka broker
#   make bench  the benchmarks (regenerates docs/benchmarks.md)
#   make soak   the long fuzz of every decoder (docs/reliability.md)
#   make chaos  30 faults of each kind while the simulator streams (docs/reliability.md)
# Everything this needs is installed from here (PyPI, npm, Maven Central); see README.

SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SIM ?= 1
FRONTEND_STAMP := frontend/dist/index.html

.PHONY: run test stop check lint typecheck venv frontend chromium clean help bench bench-run soak soak-truth chaos audit eval

help:
	@sed -n '1,7p' Makefile

$(STAMP): pyproject.toml constraints.txt
	@echo "▸ Python: creating $(VENV) and installing dependencies (first run ~1 min)"
	@command -v $(PY) >/dev/null || { echo "✗ $(PY) not found (Python 3.11 is required)"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -c constraints.txt -e '.[local,dev]'
	@touch $(STAMP)

venv: $(STAMP)

frontend:
	@$(MAKE) -s -C frontend build

run: venv frontend
	@$(BIN)/python deploy/local/stack.py run $(if $(filter 0,$(SIM)),--no-simulate,)

stop:
	@test -x $(BIN)/python && $(BIN)/python deploy/local/stack.py stop || python3 deploy/local/stack.py stop

lint: venv
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

typecheck: venv
	$(BIN)/mypy

# Runs inside `stack.py with test`, so DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS point at the
# test profile's own PostgreSQL and Kafka.
check:
	$(BIN)/alembic upgrade head
	$(BIN)/alembic check
	$(BIN)/pytest -q $(PYTEST_ARGS)

chromium:
	@bash deploy/local/ensure-chromium.sh

# Known vulnerabilities in what the service ships: the pinned Python dependencies (PyPI's
# advisory data) and the frontend's runtime packages (npm's). Needs those advisory services;
# fails when one cannot be reached, never passes silently.
audit: venv
	$(BIN)/pip-audit --strict --no-deps --disable-pip -r constraints.txt
	cd frontend && npm audit --omit=dev --audit-level=low

# A real OpenID provider for the sign-in tests (panva/oidc-provider, from npm).
OIDC_PROVIDER := deploy/local/oidc-provider/node_modules/.package-lock.json
$(OIDC_PROVIDER): deploy/local/oidc-provider/package.json deploy/local/oidc-provider/package-lock.json
	@cd deploy/local/oidc-provider && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

test: venv frontend chromium $(OIDC_PROVIDER) lint typecheck
	@$(BIN)/python deploy/local/stack.py with test -- $(MAKE) -s check

# Development settings (demo users, a movable clock) are opt-in: the benchmarks, soaks and the
# chaos lab ask for them; the service with no settings is production.
bench bench-run soak soak-truth chaos: export FLOWCC_ENVIRONMENT = development

# Benchmarks (not part of make test, which runs only a smoke of them): regenerates
# docs/benchmarks.md. BENCH_ARGS="--json N --hl7 M" for other sizes.
bench: venv
	@$(BIN)/python deploy/local/stack.py with test -- $(MAKE) -s bench-run

bench-run:
	$(BIN)/alembic upgrade head
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Long runs (not in make test, which runs a short version of each). FUZZ_ARGS="--examples N",
# CHAOS_ARGS="--faults N --kinds kill9,broker". chaos starts its own PostgreSQL and Kafka (it
# stops and fills them) and mounts a small tmpfs for the database's disk: it runs as root.
soak: venv
	$(BIN)/python -m bench.fuzz $(FUZZ_ARGS)
	@$(BIN)/python deploy/local/stack.py with soak -- $(MAKE) -s soak-truth

# Ground truth (issue #14): 48 simulated hours, three seeds, zero differences allowed.
TRUTH_SEEDS ?= 7 11 23
soak-truth:
	$(BIN)/alembic upgrade head
	for seed in $(TRUTH_SEEDS); do \
		FLOWCC_TRUTH_HOURS=48 FLOWCC_TRUTH_SEED=$$seed $(BIN)/pytest -q -p no:cacheprovider \
			tests/simulation/test_ground_truth.py || exit 1; \
	done

chaos: venv
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)

# The bed forecast's rolling-origin backtest on 12 simulated weeks (issue #18; no services
# needed): rewrites its table in docs/analytics.md. EVAL_ARGS="--weeks N --seed S --site CODE".
eval: venv
	$(BIN)/python -m bench.forecast_eval --write docs/analytics.md $(EVAL_ARGS)

clean: stop
	rm -rf .local $(VENV) frontend/node_modules frontend/dist
