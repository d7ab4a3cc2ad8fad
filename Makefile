# The project's commands. Each creates .venv first if it is missing.
#   make serve   the local stack on http://127.0.0.1:$(PORT) (moto on $(AWS_PORT))
#   make test    the whole suite (what .ci/run runs), the TypeScript client's included when node is on PATH;
#                soaks bounded (SOAK=full make test for the long ones: minutes more)
#   make client-ts   the TypeScript client's dependencies (npm ci), its build, and the @signalwire/sdk
#                snapshot ($(SIGNALWIRE_TS_SDK)) built in a copy under the temp folder, each once
#   make test-fast   the inner loop: lint, types, and the tests that need neither
#                the local stack nor sam build (unit, handler, SDK interop, template and lock checks; no soaks)
#   make example one call, as SignalWire makes it, across two replicas of examples/weather_agent.py
#                sharing the local stack (starts and stops everything itself)
#   make dist    the client's wheel and sdist in dist/ (reproducible: the same commit builds the same bytes)
#   make monitoring  templates/monitoring.yaml (the nested stack's log groups, alarms and dashboard)
#                written again from template.yaml's functions; commit the result
#   make openapi the API's OpenAPI document, as `make serve` serves it, written to openapi.json (git-ignored)
#   make lock    re-resolve requirements-dev.txt and shared/requirements.txt from their .in files,
#                keeping every pin that still fits (make lock-upgrade moves them all to the newest)
#   make smoke API=<url>   the whole session lifecycle against a deployment (or the local stack;
#                SIGN=1 signs its requests too, for AUTH=iam make serve)
#   make invoke FN=validate EVENT=events/validate.json
#   make bench
#   make mutation  mutmut over shared/session_rules with tests/unit/session_rules (slow; not in make test):
#                fails when a mutant survives that docs/testing.md does not list as changing no behaviour

SHELL := /bin/bash
VENV := .venv
# Python 3.13 where present (pyenv's or on PATH), else the machine's python3.
PYTHON ?= $(shell for p in $$(ls -d $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13 2>/dev/null | sort -V | tail -1) python3.13 python3; do \
            "$$p" -c 'import sys' >/dev/null 2>&1 && { command -v "$$p"; break; }; done)
PY_BIN := $(dir $(PYTHON))
# sam build (BuildMethod python3.13) looks for python3.13 on PATH; the venv's tools come first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PY_BIN):$(PATH)
export SAM_CLI_TELEMETRY := 0
export PORT ?= 3000
export AWS_PORT ?= 5000

UV := $(VENV)/bin/python -m uv
# The layer's lock is for where the functions run (python3.13 on arm64 Linux); the dev lock holds
# for any platform and Python from 3.11 up, and takes the layer's pins as constraints.
LAYER_LOCK := $(UV) pip compile --quiet --python-version 3.13 --python-platform aarch64-manylinux2014 \
  --custom-compile-command "make lock" shared/requirements.in -o shared/requirements.txt
DEV_LOCK := $(UV) pip compile --quiet --universal --python-version 3.11 \
  --custom-compile-command "make lock" requirements-dev.in -o requirements-dev.txt

.PHONY: venv lock serve test test-fast example dist monitoring openapi smoke invoke bench lint typecheck clean lock-upgrade client-ts mutation

venv: $(VENV)/.installed

$(VENV)/.uv:
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@# uv installs the ~150 packages in seconds where pip takes minutes (a fresh `make serve`
	@# must answer within a minute); pip stays the fallback, where no uv wheel installs.
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==0.13.9 \
	  || echo "make venv: uv did not install; pip will install the packages instead (several minutes)" >&2
	@touch $@

# Installs the lock (requirements-dev.txt), never the loose requirements-dev.in.
# The fallback says so, and pip shows each package as it goes: minutes of silence look like a hang.
$(VENV)/.installed: requirements-dev.txt shared/requirements.txt pyproject.toml $(VENV)/.uv
	$(UV) pip install --quiet --python $(VENV)/bin/python -r requirements-dev.txt -e . \
	  || { echo "make venv: uv could not install the lock; pip installs it instead, one package per line (several minutes)" >&2; \
	       $(VENV)/bin/python -m pip install --disable-pip-version-check --progress-bar off -r requirements-dev.txt -e . ; }
	@touch $@

# Re-resolves both locks from the .in files (newest versions their pins allow); commit the result.
lock: $(VENV)/.uv
	$(LAYER_LOCK)
	$(DEV_LOCK)

lock-upgrade: $(VENV)/.uv
	$(LAYER_LOCK) --upgrade
	$(DEV_LOCK) --upgrade

serve: venv
	$(VENV)/bin/python -m local.serve

# pytest-xdist: most tests wait on a stack, a subprocess or a socket, so two workers halve the time
# even on two cores. A module stays on one worker (--dist loadfile), so its fixtures are built once;
# each worker starts its own local stacks. TEST_WORKERS=0 runs in this process alone.
TEST_WORKERS ?= 2
test: venv lint typecheck client-ts
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# The TypeScript client (client-ts/): `npm ci` once per package-lock.json, its build, and the SDK
# snapshot it is tested against, compiled in a copy outside the repository (client-ts/scripts/prepare.mjs;
# tests/client_ts runs the same, a no-op by then). Without node its tests are skipped.
export SIGNALWIRE_TS_SDK ?= $(abspath ../shared/vendor/signalwire-typescript)
client-ts:
	@if command -v node >/dev/null; then node client-ts/scripts/prepare.mjs >/dev/null; \
	else echo "node is not on PATH: the TypeScript client's tests will be skipped"; fi

# Not here: tests/local, integration, client and client_ts (over the local stack; test_client_signing and
# client_ts/test_package excepted), hardening, smoke, bench, dist (builds and installs the client),
# examples, and tests/template/test_sam_cli.py (sam build and validate).
FAST_TESTS := tests/unit tests/functions tests/interop tests/template tests/client/test_client_signing.py \
  tests/client_ts/test_package.py \
  --ignore=tests/template/test_sam_cli.py -m "not slow"

test-fast: venv lint typecheck
	$(VENV)/bin/python -m pytest $(FAST_TESTS)

example: venv
	$(VENV)/bin/python -m examples.run

# The client's sdist, and its wheel built from that sdist, with the lock's hatchling (no isolation, so no
# other version is fetched). Every file's time is the last commit's, so the same commit builds the
# same bytes; outside a git checkout hatchling's fixed default time stands.
DIST ?= dist
dist: venv
	rm -rf $(DIST)
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null) ; export SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-315532800} ; \
	  $(UV) build --quiet --no-build-isolation --python $(VENV)/bin/python --out-dir $(DIST)
	@ls -1 $(DIST)/*

# Written through a temporary file, so a failed run leaves no half document; the handlers' cold-start
# settings check (no table or secret here) is not news, so their logs are kept to critical.
monitoring: venv
	$(VENV)/bin/python -m templates.monitoring

openapi: venv
	POWERTOOLS_LOG_LEVEL=CRITICAL POWERTOOLS_TRACE_DISABLED=true $(VENV)/bin/python -m local.openapi > openapi.json.tmp
	mv openapi.json.tmp openapi.json

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

# The whole session lifecycle against a deployment (the ApiUrl output; signed with your AWS
# credentials) or the local stack (http://127.0.0.1:$(PORT)); SIGN=1 signs for the local stack too
# (AUTH=iam make serve, whose credentials are testing / testing / session token testing).
smoke: venv
	@test -n "$(API)" || { echo "usage: make smoke API=<the API's base URL>"; exit 2; }
	@$(VENV)/bin/python -m smoke "$(API)" $(if $(SIGN),--sign)

invoke: venv
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=<function> EVENT=<events/file.json>"; exit 2; }
	@$(VENV)/bin/python -m local.invoke "$(FN)" "$(EVENT)"

bench: venv client-ts
	$(VENV)/bin/python -m bench

# mutmut names mutants by module path under src/, so it runs in a scratch copy laid out that way
# (tests/mutation/pyproject.toml says how); it copies that again into .mutation/mutants/.
MUTATION := .mutation
mutation: venv
	rm -rf $(MUTATION) && mkdir -p $(MUTATION)/src $(MUTATION)/tests/unit
	cp -r shared/session_rules $(MUTATION)/src/
	cp -r tests/unit/session_rules $(MUTATION)/tests/unit/
	cp tests/conftest.py $(MUTATION)/tests/
	cp tests/mutation/pyproject.toml $(MUTATION)/
	cd $(MUTATION) && ../$(VENV)/bin/mutmut run --max-children 2 >/dev/null
	cd $(MUTATION) && ../$(VENV)/bin/mutmut results > results.txt
	@cat $(MUTATION)/results.txt
	@grep -oE 'session_rules[.a-z_]+__mutmut_[0-9]+' docs/testing.md | sort -u > $(MUTATION)/equivalent.txt
	@grep -oE 'session_rules[.a-z_]+__mutmut_[0-9]+' $(MUTATION)/results.txt | sort -u > $(MUTATION)/surviving.txt
	@unexplained=$$(comm -23 $(MUTATION)/surviving.txt $(MUTATION)/equivalent.txt); \
	  if [ -n "$$unexplained" ]; then \
	    echo "mutants no test kills and docs/testing.md does not explain:"; echo "$$unexplained"; exit 1; fi; \
	  stale=$$(comm -13 $(MUTATION)/surviving.txt $(MUTATION)/equivalent.txt); \
	  if [ -n "$$stale" ]; then echo "docs/testing.md lists mutants that no longer survive:"; echo "$$stale"; exit 1; fi; \
	  echo "every mutant is killed or listed in docs/testing.md as changing no behaviour"

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache openapi.json openapi.json.tmp \
	  client-ts/node_modules client-ts/dist $(MUTATION) mutants
