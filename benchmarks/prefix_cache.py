"""How much of each LiveMind prompt vLLM's prefix cache serves, per prompt format.

A 5-sentence question is fed one sentence at a time; each sentence gets its inference before
the next arrives (end policy `wait`, so every call completes). For every format we report the
share of prompt tokens served from cache in inference calls after the first, and the tokens
the final step must prefill, against the chain-of-thought baseline's. The cache is reset
before each run, so runs do not help each other.

    .venv/bin/python benchmarks/prefix_cache.py [--model DIR_OR_ID] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re

from voice_livemind.events import EventBus, InferenceDone
from voice_livemind.livemind.config import EndPolicy, Mode, SessionConfig
from voice_livemind.livemind.prompts import PromptFormat
from voice_livemind.livemind.samples import MULTIPLE_CHOICE_INSTRUCTION
from voice_livemind.livemind.session import LiveMindSession
from voice_livemind.llm.vllm_engine import VllmEngine

QUESTION = (
    "A water tank holds 1,200 litres when it is full. "
    "On Monday morning it is three quarters full. "
    "During the day a pump removes 150 litres every hour for four hours. "
    "In the evening a storm adds 250 litres of rain water to the tank. "
    "How many litres are in the tank at the end of Monday? "
    "Options: (A) 250 (B) 350 (C) 450 (D) 550"
)


async def run_once(engine: VllmEngine, config: SessionConfig) -> dict:
    await engine.reset_prefix_cache()
    bus = EventBus()
    events = bus.subscribe()
    session = LiveMindSession(engine, config, bus=bus)
    sentences = re.split(r"(?<=[.?]) (?=[A-Z])", QUESTION)
    for i, sentence in enumerate(sentences):
        session.feed(sentence + ("" if i == len(sentences) - 1 else " "))
        # The previous sentence is now stable; wait for its inference to finish.
        while config.mode is Mode.LIVEMIND and i > 0 and len(session.memory.steps) < i:
            await asyncio.sleep(0.01)
    result = await session.end()
    await session.close()
    calls = []
    while not events.empty():
        event = events.get_nowait()
        if isinstance(event, InferenceDone):
            calls.append(event.tokens)
    later = calls[1:]
    later_prompt = sum(t.prompt_tokens for t in later)
    later_cached = sum(t.cached_prompt_tokens or 0 for t in later)
    final = result.tokens
    return {
        "inference_calls": len(calls),
        "later_inference_prompt_tokens": later_prompt,
        "later_inference_cached_tokens": later_cached,
        "later_inference_cached_share": round(later_cached / later_prompt, 3) if later else None,
        "final_prompt_tokens": final.prompt_tokens,
        "final_cached_tokens": final.cached_prompt_tokens or 0,
        "final_prefill_tokens": final.prompt_tokens - (final.cached_prompt_tokens or 0),
        "latency_s": round(result.latency_s, 3),
    }


async def main(args: argparse.Namespace) -> None:
    engine = await VllmEngine.start(args.model)
    rows = {}
    try:
        base = dict(end_policy=EndPolicy.WAIT, answer_instruction=MULTIPLE_CHOICE_INSTRUCTION)
        rows["baseline (CoT)"] = await run_once(engine, SessionConfig(mode=Mode.BASELINE, **base))
        for fmt in PromptFormat:
            rows[fmt.value] = await run_once(engine, SessionConfig(prompt_format=fmt, **base))
    finally:
        await engine.close()
    if args.json:
        print(json.dumps({"model": engine.name, "rows": rows}, indent=2))
        return
    print(f"model {engine.name}; {platform.machine()}, {platform.processor() or 'cpu'}")
    print(
        "| run | inference calls | cached share, calls 2+ | final prompt | "
        "final cached | final prefill | latency s |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        share = r["later_inference_cached_share"]
        print(
            f"| {name} | {r['inference_calls']} | {'-' if share is None else f'{share:.0%}'} | "
            f"{r['final_prompt_tokens']} | {r['final_cached_tokens']} | "
            f"{r['final_prefill_tokens']} | {r['latency_s']} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--json", action="store_true")
    asyncio.run(main(parser.parse_args()))
