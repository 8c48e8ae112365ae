#!/usr/bin/env bash
# The spoken goal run of benchmarks/RESULTS.md ("Spoken MMLU"): 20 MMLU questions from the shipped
# sample (seed 42, one per subject), read aloud by espeak-ng and replayed in real time through
# VAD, streaming Whisper tiny.en, LiveMind or the chain-of-thought baseline, and TTS, side by side
# in one run on one engine; then the table and the plots.
# Usage: benchmarks/spoken_mmlu.sh   (N=5 for a shorter run; re-run to resume after Ctrl-C)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
n=${N:-20}
out=runs/spoken_mmlu_n${n}.jsonl   # the spoken answers (WAVs) go beside it, under runs/
results=benchmarks/results/spoken_mmlu   # the current run only: git history keeps the others
HF_HUB_OFFLINE=1 "$python" -m voice_livemind.cli bench --audio -n "$n" --dataset mmlu \
    --mode both --output "$out"
rm -rf "$results"
mkdir -p "$results"
cp "$out" "$results/spoken_mmlu_n${n}.jsonl"
"$python" -m voice_livemind.cli analyze "$results/spoken_mmlu_n${n}.jsonl" \
    --csv "$results/spoken_mmlu_n${n}.csv" --plot "$results/plots_n${n}"
