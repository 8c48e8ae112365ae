#!/usr/bin/env bash
# The spoken goal run of benchmarks/RESULTS.md ("Spoken MMLU"): 20 MMLU questions from the shipped
# sample (seed 42, one per subject), read aloud by piper's neural voice (READER=espeak for the
# harder robotic one) and replayed in real time through VAD, streaming Whisper tiny.en, LiveMind or
# the chain-of-thought baseline, and TTS, side by side in one run on one engine, the end of each
# turn decided per pause (ENDPOINTING=silence for the VAD's fixed silence); then the table and
# the plots.
# Usage: benchmarks/spoken_mmlu.sh   (N=5 for a shorter run; re-run to resume after Ctrl-C)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
n=${N:-20}
reader=${READER:-piper}
endpointing=${ENDPOINTING:-fused}
name=spoken_mmlu_n${n}_${reader}_${endpointing}
out=runs/${name}.jsonl   # the spoken answers (WAVs) go beside it, under runs/
results=benchmarks/results/spoken_mmlu   # the current run only: git history keeps the others
HF_HUB_OFFLINE=1 "$python" -m voice_livemind.cli bench --audio -n "$n" --dataset mmlu \
    --mode both --reader "$reader" --endpointing "$endpointing" --output "$out"
rm -rf "$results"
mkdir -p "$results"
cp "$out" "$results/${name}.jsonl"
"$python" -m voice_livemind.cli analyze "$results/${name}.jsonl" \
    --csv "$results/${name}.csv" --plot "$results/plots_${name}"
