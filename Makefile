# KLINEO: `make run` starts everything on embedded defaults; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON_BIN ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint fmt bench soak check-services chromium clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

# Browser libraries (the chart) from package-lock.json; node_modules is never committed.
NODE_STAMP := node_modules/.package-lock.json
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(NODE_STAMP)

run: $(STAMP) $(NODE_STAMP)
	@$(PY) -m klineo.dev env
	@set -e; eval "$$($(PY) -m klineo.dev procfile)"; export REDIS_URL; \
	  $(PY) manage.py migrate --noinput; \
	  echo ""; echo "  KLINEO is starting: open http://127.0.0.1:$${PORT:-8000}/  (Ctrl-C stops everything)"; echo ""; \
	  exec $(VENV)/bin/honcho start -f "$$PROCFILE" -d .

# Debian's chromium drives the browser tests (Playwright's own browser download is not used).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is missing: install it (sudo apt-get install chromium) to run the browser tests."; exit 1; \
	  fi; }

check-services: $(STAMP)
	@KLINEO_TESTING=1 $(PY) -m klineo.services_check

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: $(STAMP) $(NODE_STAMP) chromium check-services lint
	KLINEO_TESTING=1 $(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks.run

soak: $(STAMP)
	$(PY) -m benchmarks.soak

clean:
	rm -rf $(VENV) var/staticfiles .pytest_cache .ruff_cache
