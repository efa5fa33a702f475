# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test test-client test-sqlite lint typecheck bench system-deps clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# Make the venv, migrate the embedded SQLite database, seed the demo city when it is
# empty, and serve on loopback with the clearly marked demo sign-in.
run: $(VENV)/.installed
	$(VENV)/bin/tsunagu migrate
	$(VENV)/bin/tsunagu seed-demo
	CHAT_DEV_SESSIONS=1 CHAT_OFF_HOURS_POLICY=$${CHAT_OFF_HOURS_POLICY:-off} \
		$(VENV)/bin/tsunagu serve --host 127.0.0.1 --port $(PORT)

# Debian's chromium for the browser tests and Node for the client's reducer tests
# (installed once; needs root).
system-deps:
	bash scripts/install-system-deps.sh

# The whole suite: on SQLite, and on PostgreSQL + Redis too when CHAT_TEST_POSTGRES_URL
# and CHAT_TEST_REDIS_URL are set (.ci/run sets them).
test: $(VENV)/.installed-test system-deps test-client
	$(VENV)/bin/pytest

# The client's store, selectors and connection without a browser: Node's own test
# runner on the ES modules as served (no build step, no npm packages). See docs/client.md.
test-client: system-deps
	node --test tests/client/

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check chat admin web_client tests bench
	$(VENV)/bin/mypy

# The quick benchmark (about six minutes): Tsunagu against the raw websockets relay and a
# bare Starlette relay; writes bench/results/latest.json and latest.txt. `--full` runs the
# issue's sizes (python -m bench.run --full). See docs/performance.md.
bench: $(VENV)/.installed-test
	$(PY) -m bench.run
	$(PY) -m bench.export_memory --quick

clean:
	rm -rf $(VENV) var .pytest_cache
