# The two commands a new machine needs: `make demo` (the main job) and `make test`.
# Both run the set-up first (idempotent; about 5 minutes the first time).
VENV := .venv
export HF_HUB_OFFLINE ?= 1

.PHONY: setup demo test lint

setup:
	@scripts/setup.sh

demo: setup
	$(VENV)/bin/voice-livemind demo

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/python -m pytest -q

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
