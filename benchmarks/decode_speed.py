"""Prefill and decode speed of each offline model on the in-process vLLM engine, and its start time.

For every model: the engine start (model already converted and cached), then `--repeats`
rounds of
- prefill: a ~1,000-token prompt the cache has not seen (cache reset), one output token;
  prefill tokens/s = prompt tokens / time to the first token;
- decode: a short prompt asking for a long list, `--decode-tokens` output tokens at most;
  decode tokens/s = (tokens - 1) / (last token - first token).
The engine runs as the product runs it (CPU: nice 10, every core, 32-token blocks).
One JSON line per model goes to the output file; a rerun skips the models already there
(`--overwrite` starts afresh). Hold the latency lock: `flock /tmp/vl-bench.lock ...`.

    PYTHONPATH=. .venv/bin/python benchmarks/decode_speed.py [--models smollm2-135m ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from pathlib import Path

from voice_livemind.llm import OFFLINE_MODELS, SamplingSettings, resolve_model
from voice_livemind.llm.vllm_engine import VllmEngine

RESULTS = Path(__file__).parent / "results" / "decode_speed" / "decode_speed.jsonl"
DECODE_PROMPT = "List the numbers from 1 to 300 in words, one per line, with no other text."


def prefill_prompt(round_number: int) -> str:
    """About 1,000 tokens of text no earlier round has sent (so nothing is served from cache)."""
    facts = " ".join(
        f"Note {round_number}.{i}: the {i}th lighthouse on coast {round_number} has "
        f"{i % 7 + 2} stripes and a lamp of {100 + i} watts."
        for i in range(40)
    )
    return facts + " How many lighthouses are listed? Answer with one number."


async def measure(model: str, repeats: int, decode_tokens: int) -> dict:
    path = resolve_model(model)  # built and cached beforehand: start time is the engine's own
    started = time.monotonic()
    engine = await VllmEngine.start(model, max_model_len=2048)
    start_s = time.monotonic() - started
    try:
        await _generate(engine, "Say hello.", 4, "warm-up")
        prefill, decode = [], []
        for round_number in range(repeats):
            await engine.reset_prefix_cache()
            sent = time.monotonic()
            usage = await _generate(engine, prefill_prompt(round_number), 1, f"p-{round_number}")
            prefill.append(
                {
                    "prompt_tokens": usage.prompt_tokens,
                    "cached_tokens": usage.cached_prompt_tokens,
                    "seconds": usage.first_token_at - sent,
                }
            )
            usage = await _generate(engine, DECODE_PROMPT, decode_tokens, f"d-{round_number}")
            decode.append(
                {
                    "tokens": usage.generated_tokens,
                    "seconds": usage.last_token_at - usage.first_token_at,
                }
            )
    finally:
        await engine.close()
    prefill_rates = [p["prompt_tokens"] / p["seconds"] for p in prefill]
    decode_rates = [(d["tokens"] - 1) / d["seconds"] for d in decode if d["tokens"] > 1]
    return {
        "model": model,
        "path": path,
        "weights_gib": round(
            sum(f.stat().st_size for f in Path(path).glob("*.safetensors")) / 2**30, 2
        ),
        "start_s": round(start_s, 1),
        "prefill_tokens_per_s": round(statistics.median(prefill_rates), 1),
        "decode_tokens_per_s": round(statistics.median(decode_rates), 1),
        "prefill": prefill,
        "decode": decode,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


async def _generate(engine: VllmEngine, prompt: str, max_tokens: int, request_id: str):
    messages = [{"role": "user", "content": prompt}]
    usage = None
    async for chunk in engine.stream(messages, SamplingSettings(max_tokens=max_tokens), request_id):
        usage = chunk.usage or usage
    return usage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(OFFLINE_MODELS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--decode-tokens", type=int, default=128)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    if args.overwrite:
        args.output.unlink(missing_ok=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if args.output.exists():
        done = {json.loads(line)["model"] for line in args.output.read_text().splitlines()}
    for model in args.models:
        if model in done:
            print(f"{model}: already measured in {args.output}")
            continue
        row = asyncio.run(measure(model, args.repeats, args.decode_tokens))
        with args.output.open("a") as out:
            out.write(json.dumps(row) + "\n")
        print(
            f"{model}: start {row['start_s']} s, prefill {row['prefill_tokens_per_s']} tok/s, "
            f"decode {row['decode_tokens_per_s']} tok/s (load {row['load_average_1min']})",
            flush=True,
        )


if __name__ == "__main__":
    main()
