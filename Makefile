# Cloudstamp: the two commands are `make run` and `make test`. `make help` lists the rest.
#
# Every target installs what it needs first; stamp files make the installs happen only when
# requirements*.txt, package.json or package-lock.json change.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The pinned requirements are tested on Python 3.11; any 3.11+ works.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check

PYTEST_ARGS ?=
# Procfile commands (uvicorn, celery) and scripts find the venv's tools first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

PY_STAMP := $(VENV)/.requirements.stamp
DEV_STAMP := $(VENV)/.requirements-dev.stamp
NPM_STAMP := node_modules/.cloudstamp.stamp

.PHONY: help run test lint format bench check deploy-check collectstatic install install-dev clean distclean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# --- installs --------------------------------------------------------------------------------

$(PY):
	@test -n "$(PYTHON)" || { echo "Python 3.11+ is needed (apt-get install python3 python3-venv)."; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "$(PYTHON) is older than 3.11; set PYTHON=/path/to/python3.11"; exit 1; }
	@echo "==> Creating $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)

$(PY_STAMP): requirements.txt | $(PY)
	@echo "==> Installing Python packages (requirements.txt)"
	$(PIP) install --quiet -r requirements.txt
	@touch $@

$(DEV_STAMP): requirements-dev.txt requirements.txt | $(PY)
	@echo "==> Installing Python packages (requirements-dev.txt)"
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $(PY_STAMP) $@

$(NPM_STAMP): package.json $(wildcard package-lock.json)
	@command -v npm >/dev/null || { echo "npm is needed: install Node.js 20 (apt-get install nodejs npm)."; exit 1; }
	@echo "==> Installing front-end packages (npm)"
	@if [ ! -f package-lock.json ]; then \
		npm install --no-audit --no-fund --loglevel=error; \
	elif [ "$${CI:-}" = "true" ]; then \
		npm ci --no-audit --no-fund --loglevel=error; \
	else \
		npm ci --no-audit --no-fund --loglevel=error \
		|| { echo "package-lock.json does not match package.json; running npm install"; \
		     npm install --no-audit --no-fund --loglevel=error; }; \
	fi
	@touch $@

install: $(PY_STAMP) $(NPM_STAMP) ## create .venv and install the app's Python and npm packages
	@mkdir -p var

install-dev: $(DEV_STAMP) $(NPM_STAMP) ## install, plus the test and lint tools
	@mkdir -p var

# --- the two commands ------------------------------------------------------------------------

run: install ## migrate, seed demo data once, run web + worker + beat on http://127.0.0.1:8000 (PORT=…)
	@exec scripts/bootstrap.sh

test: install-dev ## run the whole suite (PYTEST_ARGS="-k quota -x" to narrow it)
	@scripts/ensure-redis.sh --optional
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# --- the rest --------------------------------------------------------------------------------

lint: $(DEV_STAMP) ## ruff check and ruff format --check
	@status=0; \
	echo "$(VENV)/bin/ruff check ."; $(VENV)/bin/ruff check . || status=1; \
	echo "$(VENV)/bin/ruff format --check ."; $(VENV)/bin/ruff format --check . || status=1; \
	exit $$status

format: $(DEV_STAMP) ## ruff format and ruff check --fix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install-dev ## run the benchmarks (printed as ratios)
	@scripts/ensure-redis.sh --optional
	$(PY) -m benchmarks.gallery_validate
	$(PY) -m benchmarks.gallery_page
	$(PY) -m benchmarks
	$(PY) -m benchmarks.provisioning
	$(PY) -m benchmarks.vm_list

check: install ## Django's system checks
	$(PY) manage.py check

deploy-check: install ## check --deploy and collectstatic with a production-like environment
	@scripts/deploy-check.sh

collectstatic: install ## collect static files into staticfiles/ (needed with DEBUG=false)
	$(PY) manage.py collectstatic --noinput

clean: ## remove caches, collected static files and test leftovers (keeps .venv, node_modules, db)
	find . -path ./.venv -prune -o -path ./node_modules -prune -o -name __pycache__ -type d -print0 \
		| xargs -0 rm -rf
	rm -rf .pytest_cache .ruff_cache staticfiles artifacts
	rm -f var/celerybeat-schedule* var/*.sqlite3* var/*.log

distclean: clean ## clean, and remove .venv, node_modules and the development database
	rm -rf $(VENV) node_modules
	rm -f db.sqlite3 db.sqlite3-journal db.sqlite3-wal db.sqlite3-shm
