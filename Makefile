# The two commands: `make run` serves the API on http://127.0.0.1:3000, `make test` runs every test.
# `make serve` runs it under gunicorn with production settings (gunicorn.conf.py).
# `make bench` measures it against a bare-Flask ceiling and a plain CRUD baseline (`make bench QUICK=1`: under 2 minutes).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 3000

.PHONY: run serve test bench init-db clean

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

serve: $(VENV)/.runtime
	$(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

test: $(VENV)/.dev
	$(BIN)/python -m pytest

bench: $(VENV)/.bench
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/python -m bench.run $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
