# The two commands: `make run` starts a working centre, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
LEAFLET := cad/web/static/vendor/leaflet/leaflet.js

.PHONY: run test lint unit install bench

run: $(STAMP) $(LEAFLET)
	$(BIN)/warroom serve $(ARGS)

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP) $(LEAFLET)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --config setup.cfg
	$(BIN)/mypy --strict routing dispatch reports simulator/city.py telephony/pidf_lo.py telephony/aml.py telephony/sip_message.py telephony/screening.py telephony/journal.py telephony/pool.py telephony/replies.py telephony/redeliver.py telephony/turned_away.py cad/events.py cad/blocking.py

unit: $(STAMP) $(LEAFLET)
	$(BIN)/pytest tests/unit

install: $(STAMP) $(LEAFLET)

$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
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
bench-smoke: $(STAMP)
	$(BIN)/python bench/smoke.py
