#!/usr/bin/env bash
# The text-replay goal run of benchmarks/RESULTS.md: 50 MMLU-Pro questions (seed 42, split across
# categories), LiveMind and the chain-of-thought baseline side by side in one run, sentence
# granularity, 240 characters/min on the paper's clock, offline default model.
# Usage: benchmarks/text_replay.sh [at-end|streamed]   (where the options arrive)
set -euo pipefail
cd "$(dirname "$0")/.."
options=${1:-at-end}
data=${VOICE_LIVEMIND_DATA:-../shared/data/mmlu_pro_test.jsonl}
[[ -f "$data" ]] || data=mmlu-pro   # the shipped 140-question sample otherwise
results=benchmarks/results/text_replay
mkdir -p "$results"
out=$results/mmlu_pro_n${N:-50}_${options}.jsonl   # a re-run resumes it
HF_HUB_OFFLINE=1 .venv/bin/voice-livemind bench --data "$data" --dataset mmlu-pro -n "${N:-50}" \
    --mode both --granularity sent --speed 240 --timing simulated --options "$options" \
    --output "$out"
.venv/bin/voice-livemind analyze "$out" --csv "${out%.jsonl}.csv" --plot "$results/plots_${options}"
