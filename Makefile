# herokucd: `make run` serves the dashboard on embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HEROKU_CLI_VERSION := 11.10.0
HEROKU_CLI := .tools/heroku-cli/node_modules/.bin/heroku
STAMP := $(VENV)/.installed

.PHONY: run test lint format tools demo bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) requirements.txt requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# The official Heroku CLI, pinned, for custom deploy commands and for the simulator's tests.
$(HEROKU_CLI):
	npm install --prefix .tools/heroku-cli --no-audit --no-fund --loglevel=error heroku@$(HEROKU_CLI_VERSION)

# Debian's Chromium drives the browser tests (Playwright's own browser download is not used).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "The browser tests need Debian's chromium: sudo apt-get install chromium"; exit 1; \
	fi

# Custom deploy commands run in a bubblewrap sandbox (README: Custom commands run in a sandbox).
BWRAP := /usr/bin/bwrap
$(BWRAP):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; \
	else \
		echo "Custom commands and their tests need bubblewrap: sudo apt-get install bubblewrap"; exit 1; \
	fi

# The cache flush tests start real servers: memcached with SASL PLAIN (a sasldb made with
# saslpasswd2) and a Redis listening with TLS (README: Cache flush add-ons).
MEMCACHED := /usr/bin/memcached
SASLPASSWD := /usr/sbin/saslpasswd2
REDIS_SERVER := /usr/bin/redis-server
CACHE_PACKAGES := memcached sasl2-bin libsasl2-modules redis-server
$(MEMCACHED) $(SASLPASSWD) $(REDIS_SERVER):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(CACHE_PACKAGES) >/dev/null; \
	else \
		echo "The cache flush tests need: sudo apt-get install $(CACHE_PACKAGES)"; exit 1; \
	fi

tools: $(STAMP) $(HEROKU_CLI)

# `make run PORT=8100` serves on another port. Ctrl-C or SIGTERM stops every process it started
# (README: Starting and stopping).
run: tools
	$(PY) manage.py migrate --no-input -v0
	$(PY) manage.py serve

# Offline demo: the dashboard, the local Heroku simulator with two apps, and a sample repository.
# `make demo PORT=8100` serves on another port; Ctrl-C or SIGTERM stops everything.
demo: tools
	$(PY) manage.py demo

test: tools $(CHROMIUM) $(BWRAP) $(MEMCACHED) $(SASLPASSWD) $(REDIS_SERVER)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

# Benchmarks: each figure against a baseline measured in the same run (see README, Performance).
bench: tools
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) .tools .data
