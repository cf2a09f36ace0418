# BEMCom OCPP 1.6J connector: build, run, test and lint entry points (GNU make).
#
# Settings are NOT loaded here: the processes read the environment themselves, with .env as
# defaults, and supervisord passes its environment on to them, so a variable exported from the
# shell (e.g. `MQTT_BROKER_PORT=1884 make run`) wins over .env.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="tests/unit -x"`.
PYTEST_ARGS ?=
# Extra arguments for the demo, e.g. `make demo DEMO_ARGS="--duration 120 --charge-points 5"`.
DEMO_ARGS ?=

.PHONY: help
help: ## List the targets
	@echo "Targets:"
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-15s %s\n", $$1, $$2}'

.PHONY: venv
venv: ## Create/update .venv with the runtime requirements
	@bash scripts/bootstrap.sh run

.PHONY: venv-dev
venv-dev: ## Create/update .venv with the test and lint tools (and mosquitto)
	@bash scripts/bootstrap.sh test

.PHONY: run
run: ## Run gateway, bridge and rawlogger under supervisord (foreground); starts (and stops) a local broker if needed
	@bash scripts/run.sh

.PHONY: demo
demo: ## Demo: private broker, the connector, 3 simulated charge points, datapoints as they arrive (~60 s)
	@bash scripts/bootstrap.sh run
	$(PY) -m tools.demo $(DEMO_ARGS)

.PHONY: test
test: ## Run the whole test suite (unit, component, end-to-end; the image tests only with RUN_IMAGE_TESTS=1)
	@bash scripts/bootstrap.sh test
	@# pytest's exit code 5 means "no tests collected": not a failure while the suite is young.
	$(PY) -m pytest $(PYTEST_ARGS) || { rc=$$?; if [ $$rc -eq 5 ]; then echo "make test: no tests collected"; else exit $$rc; fi; }

.PHONY: test-unit
test-unit: ## Run the pure unit tests (no sockets, no subprocesses; enforced), properties at a tenth of their examples
	@bash scripts/bootstrap.sh test
	TEST_DEPTH=quick $(PY) -m pytest tests/unit $(PYTEST_ARGS)

.PHONY: test-component
test-component: ## Run the component tests (tests/component: real sockets, ZeroMQ, websockets, mosquitto)
	@bash scripts/bootstrap.sh test
	$(PY) -m pytest tests/component $(PYTEST_ARGS)

.PHONY: test-e2e
test-e2e: ## Run the end-to-end tests (tests/e2e: the processes under supervisord)
	@bash scripts/bootstrap.sh test
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

.PHONY: image
image: ## Build the image with Debian's podman, no registry needed (scripts/podman-image.sh)
	@bash scripts/podman-image.sh build

.PHONY: test-image
test-image: ## Build the image with podman, run it, check a charge point, MQTT and the health check (~3 min)
	@bash scripts/bootstrap.sh test
	RUN_IMAGE_TESTS=1 $(PY) -m pytest tests/image -m image -rA $(PYTEST_ARGS)

.PHONY: lint
lint: ## ruff check, ruff format --check, mypy
	@bash scripts/bootstrap.sh test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

.PHONY: format
format: ## Apply ruff's fixes and formatting
	@bash scripts/bootstrap.sh test
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: hadolint
hadolint: ## Lint the Dockerfile
	@bash scripts/bootstrap.sh test
	$(VENV)/bin/hadolint Dockerfile

.PHONY: clean
clean: ## Remove caches (keeps .venv)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
