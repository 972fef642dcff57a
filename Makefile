# The two set-up commands of the README: `make demo` and `make test`.
# Each creates the virtualenv when missing and installs the locked dependencies first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint types unit install chromium lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP) chromium

# The browser tests drive Debian's Chromium (docs/adr/0009-browser-tests.md). Installed when
# missing and apt-get can do it (CI runs as root); otherwise those tests skip and say so.
chromium:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing Debian's chromium for the browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		else \
			echo "no /usr/bin/chromium: the browser tests will skip (sudo apt-get install chromium)"; \
		fi; \
	fi

demo: install
	$(BIN)/solder demo

lint: install
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

types: install
	$(BIN)/mypy
	$(BIN)/mypy examples/acme/server.py

# The whole suite runs on the embedded SQLite store, then again on PostgreSQL.
# SOLDER_TEST_POSTGRES_URL defaults to the machine's service; set it empty to skip that pass.
SOLDER_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
test: lint types
	$(BIN)/python -m pytest
	SOLDER_TEST_DATABASE_URL="$(SOLDER_TEST_POSTGRES_URL)" $(BIN)/python -m pytest

# Re-pin dependencies after changing pyproject.toml (needs uv in the virtualenv).
lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet uv
	UV_PYTHON_DOWNLOADS=never $(BIN)/uv pip compile pyproject.toml --extra dev --extra bench \
		--generate-hashes --python-version 3.11 --no-header \
		--python-platform x86_64-unknown-linux-gnu -o requirements.lock
	# the same pins without the dev and bench extras, for production installs and the image
	UV_PYTHON_DOWNLOADS=never $(BIN)/uv pip compile pyproject.toml -c requirements.lock \
		--generate-hashes --python-version 3.11 --no-header \
		--python-platform x86_64-unknown-linux-gnu -o requirements.runtime.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
