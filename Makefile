# The two commands a new machine needs: `make demo` (the main job) and `make test`.
# Both run the set-up first (idempotent; about 5 minutes the first time).
VENV := .venv
export HF_HUB_OFFLINE ?= 1

.PHONY: setup demo test lint models

setup:
	@scripts/setup.sh

# Qwen2.5-Coder 0.5B and 1.5B Instruct for --model qwen2.5-coder-0.5b / -1.5b (about 1.6 GB).
models: setup
	@scripts/install_models.sh

demo: setup
	$(VENV)/bin/voice-livemind demo

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/python -m pytest -q

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
