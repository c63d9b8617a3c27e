# The two commands: `make run` starts a working centre, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Two stamps, named by the packaging files' checksum: `run` installs the runtime dependencies only;
# `test`/`lint` add the test extras (pytest, Playwright, mypy…) on top, and leave the run stamp valid.
SUM := $(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.installed-run-$(SUM)
TEST_STAMP := $(VENV)/.installed-test-$(SUM)
LEAFLET := cad/web/static/vendor/leaflet/leaflet.js

.PHONY: run test lint unit install bench

run: $(RUN_STAMP) $(LEAFLET)
	$(BIN)/warroom serve $(ARGS)

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(TEST_STAMP) $(LEAFLET)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --config setup.cfg
	$(BIN)/mypy --strict routing dispatch reports timeline simulator/city.py telephony/pidf_lo.py telephony/aml.py telephony/sip_message.py telephony/screening.py telephony/journal.py telephony/pool.py telephony/replies.py telephony/redeliver.py telephony/turned_away.py cad/events.py cad/blocking.py

unit: $(TEST_STAMP) $(LEAFLET)
	$(BIN)/pytest tests/unit

install: $(TEST_STAMP) $(LEAFLET)

$(RUN_STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	rm -f $(VENV)/.installed-*
	touch $@

$(TEST_STAMP): $(RUN_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# the map library the consoles serve themselves (npm registry, pinned in package-lock.json; no CDN)
$(LEAFLET): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	rm -rf cad/web/static/vendor/leaflet
	mkdir -p cad/web/static/vendor
	cp -r node_modules/leaflet/dist cad/web/static/vendor/leaflet
	touch $@

# the hot paths in seconds, each against a baseline of the same run (bench/smoke.py); CI runs it after the tests
.PHONY: bench-smoke
bench-smoke: $(TEST_STAMP)
	$(BIN)/python bench/smoke.py
