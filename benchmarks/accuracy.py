"""Accuracy runs: several answer settings ("arms") on the same questions, one engine for all.

Each arm is a `bench` run (text replay, both modes or one) with its own results file under
--out, so every arm resumes where it stopped and `voice-livemind analyze` reads it. The arms
share one in-process engine, which batches their requests: on a 2-core CPU one engine start
(minutes) and one batch serve every arm. Latencies measured this way include the waiting for
the other arms' requests, and by default (`--timing keep-up`) each sentence is typed only once
the model has thought about the one before: use this for accuracy, and `bench --concurrency 1`
for latency.

    python benchmarks/accuracy.py --model DIR --n 100 --seed 7 --arms prefix,weigh,cot \\
        --out benchmarks/results/accuracy/dev_seed7

Arms (LiveMind's final step; the baseline is chain-of-thought with `--max-answer-tokens`):
- prefix: LiveMind opens "The answer is (" and the constrained letter follows (no baseline);
- bare: no prefill; told to reply with the answer alone (at most 48 tokens), then the letter
  if it stated none;
- weigh: no prefill; told to weigh the options in a sentence or two (at most 64 tokens);
- cot: the baseline alone, 256 tokens, then its letter if it stated none;
- both: LiveMind with `prefix` and the baseline, alternating (the `bench --mode both` run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from voice_livemind.bench.text_replay import BenchSettings, run_bench
from voice_livemind.livemind.config import AnswerStyle, Mode, SessionConfig
from voice_livemind.livemind.prompts import FINAL_INSTRUCTION, WEIGH_INSTRUCTION
from voice_livemind.livemind.samples import (
    MULTIPLE_CHOICE_ANSWER_PREFIX,
    MULTIPLE_CHOICE_INSTRUCTION,
)
from voice_livemind.llm.base import SamplingSettings
from voice_livemind.llm.vllm_engine import VllmEngine


@dataclass(frozen=True)
class Arm:
    modes: tuple[Mode, ...]
    answer_prefix: str
    max_answer_tokens: int
    final_instruction: str = FINAL_INSTRUCTION


ARMS = {
    "prefix": Arm((Mode.LIVEMIND,), MULTIPLE_CHOICE_ANSWER_PREFIX, 256),
    "bare": Arm((Mode.LIVEMIND,), "", 48),
    "weigh": Arm((Mode.LIVEMIND,), "", 64, WEIGH_INSTRUCTION),
    "cot": Arm((Mode.BASELINE,), "", 256),
    "both": Arm((Mode.LIVEMIND, Mode.BASELINE), MULTIPLE_CHOICE_ANSWER_PREFIX, 256),
}


async def main(args: argparse.Namespace) -> None:
    # The engine keeps its usual priority: nothing here competes with it for a user's speech.
    engine = await VllmEngine.start(args.model, max_model_len=2048, niceness=0)
    answer_engine = None
    if args.answer_model:
        answer_engine = await VllmEngine.start(args.answer_model, max_model_len=2048, niceness=0)
    out = Path(args.out)
    jobs = []
    for name in args.arms.split(","):
        arm = ARMS[name]
        config = SessionConfig(
            answer=SamplingSettings(max_tokens=arm.max_answer_tokens, repetition_penalty=1.1),
            answer_instruction=MULTIPLE_CHOICE_INSTRUCTION,
            answer_prefix=arm.answer_prefix,
            answer_style=AnswerStyle.TEXT,
            final_instruction=arm.final_instruction,
        )
        settings = BenchSettings(
            dataset=args.data,
            n=args.n,
            seed=args.seed,
            speed_cpm=240.0,
            timing=args.timing,
            options="at-end",
            format=config.prompt_format.value,
            granularity=config.granularity.value,
            min_segment_chars=config.min_segment_chars,
            end_policy=config.end_policy.value,
            max_inference_tokens=config.inference.max_tokens,
            max_answer_tokens=arm.max_answer_tokens,
            answer_prefix=arm.answer_prefix,
            final_instruction=arm.final_instruction,
            model=engine.name,
            answer_model=(answer_engine or engine).name,
        )
        output = out / f"{name}.jsonl"
        bench = run_bench(
            engine,
            answer_engine,
            config,
            settings,
            list(arm.modes),
            output,
            concurrency=args.concurrency,
            data=args.data,
        )
        jobs.append(bench)
    try:
        await asyncio.gather(*jobs)
    finally:
        await engine.close()
        if answer_engine is not None:
            await answer_engine.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--answer-model", default=None, help="collaborative: answers only")
    parser.add_argument("--data", default="../shared/data/mmlu_test.jsonl")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=8, help="questions at once, per arm")
    parser.add_argument("--arms", default="both")
    parser.add_argument(
        "--timing",
        choices=["keep-up", "simulated"],
        default="keep-up",
        help="keep-up: each sentence once the model has thought about the one before (accuracy "
        "on a loaded machine); simulated: the paper's clock",
    )
    parser.add_argument("--out", required=True, help="folder for one results file per arm")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    asyncio.run(main(parser.parse_args()))
