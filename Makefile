# The two commands: `make run` starts a working centre, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint unit install bench

run: $(STAMP)
	$(BIN)/warroom serve $(ARGS)

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --config setup.cfg
	$(BIN)/mypy --strict routing dispatch telephony/pidf_lo.py telephony/aml.py telephony/sip_message.py telephony/screening.py telephony/journal.py telephony/pool.py

unit: $(STAMP)
	$(BIN)/pytest tests/unit

install: $(STAMP)

$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@
