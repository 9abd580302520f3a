# KLINEO: `make run` starts everything on embedded defaults; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON_BIN ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint fmt bench soak check-services chromium wrk clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

# Browser libraries (the chart) from package-lock.json; node_modules is never committed.
NODE_STAMP := node_modules/.package-lock.json
$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --no-audit --no-fund --loglevel=error && touch $(NODE_STAMP); \
	else \
	  echo "npm is missing: the price chart stays off (install Node.js and npm to get it)."; \
	fi

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

# Debian's wrk drives the page benchmark (benchmarks/bench_pages.py).
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's wrk for the page benchmark..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else \
	    echo "wrk is missing: install it (sudo apt-get install wrk) to run the page benchmark."; exit 1; \
	  fi; }

bench: $(STAMP) wrk check-services
	$(PY) -m benchmarks.run

# SOAK_SECONDS (default 600) of load and faults, then the checks; then a few thousand fuzz cases.
SOAK_SECONDS ?= 600
FUZZ_EXAMPLES ?= 80
soak: $(STAMP) check-services
	@status=0; \
	  $(PY) -m benchmarks.soak --seconds $(SOAK_SECONDS) || status=1; \
	  FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(VENV)/bin/pytest tests/fuzz -q || status=1; \
	  exit $$status

clean:
	rm -rf $(VENV) var/staticfiles .pytest_cache .ruff_cache
