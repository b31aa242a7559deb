# The two commands: `make run` serves the API on http://127.0.0.1:3000, `make test` runs every test
# on both engines.
# `make serve` runs it under gunicorn with production settings (gunicorn.conf.py).
# `make bench` measures it against a bare-Flask ceiling and a plain CRUD baseline (`make bench QUICK=1`: a few minutes).
# `make deps` installs the system packages the tests need; `make reset-db` starts the data over.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 3000

DATABASE_PATH ?= instance/cqrs.db
# The system packages the tests run: nginx (end-to-end), Chromium (the API page), curl (the docs' examples),
# PostgreSQL 15 (a throwaway server per test session, tests/postgres_server.py).
TEST_PACKAGES := nginx-light:/usr/sbin/nginx chromium:/usr/bin/chromium curl:/usr/bin/curl \
	postgresql:/usr/lib/postgresql/15/bin/initdb

.PHONY: run serve test test-fast deps bench init-db reset-db clean

$(VENV)/.runtime: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(VENV)/.bench: $(VENV)/.runtime requirements-bench.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $@

init-db: $(VENV)/.runtime
	$(BIN)/flask --app wsgi init-db

run: init-db
	LOG_FORMAT=$${LOG_FORMAT:-text} $(BIN)/flask --app wsgi run --host $(HOST) --port $(PORT)

# On loopback unless told otherwise (BIND, or HOST and PORT): sync workers belong behind nginx (deploy/).
serve: $(VENV)/.runtime
	BIND=$${BIND:-$(HOST):$(PORT)} $(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

deps:
	@missing=""; for entry in $(TEST_PACKAGES); do \
		test -x "$${entry#*:}" || missing="$$missing $${entry%%:*}"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$missing with apt-get (needs root)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# Every test once per engine (TEST_ENGINE): SQLite, then PostgreSQL on a throwaway server the
# tests start and stop. The in-process tests run on every core; the server and browser tests two
# modules at a time (a module's tests share its servers); the fuzzer on its own (schemathesis
# makes its cases in one process).
FUZZER := tests/api/test_fuzzing.py
test: deps $(VENV)/.dev
	@for engine in sqlite postgresql; do \
		echo "make test: $$engine"; \
		TEST_ENGINE=$$engine $(BIN)/python -m pytest -n 2 -m "not e2e and not browser" \
		&& TEST_ENGINE=$$engine $(BIN)/python -m pytest -n 2 --dist loadfile -m "e2e or browser" --ignore=$(FUZZER) \
		&& TEST_ENGINE=$$engine $(BIN)/python -m pytest -m "e2e or browser" $(FUZZER) || exit 1; \
	done

# Everything but servers, the browser and the slowest tests, on every core; `pytest -m <kind>` picks one kind.
test-fast: $(VENV)/.dev
	$(BIN)/python -m pytest -n auto -m "not e2e and not browser and not slow"

bench: $(VENV)/.bench
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	test -x /usr/lib/postgresql/15/bin/initdb || { apt-get update -qq && apt-get install -y -qq postgresql; }
	$(BIN)/python -m bench.run $(if $(QUICK),--quick)

reset-db:
	rm -f $(DATABASE_PATH) $(DATABASE_PATH)-* $(DATABASE_PATH).rebuild-*

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
