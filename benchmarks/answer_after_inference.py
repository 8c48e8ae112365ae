"""How soon an answer's first token comes when it is sent while an inference is in flight.

The voice pipeline's situation at the end of an utterance: LiveMind is thinking (an inference
request is being prefilled or decoded), the recogniser makes its final Whisper pass, then the
answer is sent and the inference aborted (`EndPolicy.ABORT`, `inference_aborted` "answer
prepared"). Two engine-side levers were tried against that, each as its own scenario:

- `prefill-chunk`: vLLM's `max_num_batched_tokens` (with chunked prefill) bounds the tokens of
  one engine step, so the answer never waits behind a long prefill step; but a prompt then
  takes several steps. The inference is aborted after a random 0-0.5 s, the answer sent at once.
- `pause-decode`: a Whisper decode (tiny.en, 4 s of espeak speech, in a worker thread as in the
  pipeline) runs first; the inference in flight is aborted when the decode ends (`end`, what
  the session does), when it starts (`start`), or there is none (`none`).

Each answer shares a ~400-token context with the inference (cached, as LiveMind's prompts are)
and adds ~130 new tokens; 8 tokens are generated. The answer's time to first token is measured
from when it is sent (`prefill-chunk`) or from the end of the decode (`pause-decode`).

    .venv/bin/python benchmarks/answer_after_inference.py prefill-chunk [--trials 16]
    .venv/bin/python benchmarks/answer_after_inference.py pause-decode [--trials 24]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import platform
import random
import statistics
import subprocess
import tempfile
import time

from voice_livemind.llm.base import Message, SamplingSettings
from voice_livemind.llm.vllm_engine import VllmEngine

_SENTENCE = (
    "the economy of a small island nation depends on fishing tourism and trade with its larger "
    "neighbours which supply most of its energy and food while its young people often leave to "
    "study abroad and many never return home"
)


def _text(words: int, seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(_SENTENCE.split()) for _ in range(words))


def _prompts(i: int) -> tuple[list[Message], list[Message], list[Message]]:
    """(shared context, inference prompt, answer prompt) of trial `i`."""
    context: list[Message] = [
        {"role": "system", "content": "You think step by step."},
        {"role": "user", "content": _text(300, i)},
    ]
    piece = _text(70, 1000 + i)
    inference = [*context, {"role": "user", "content": f"{piece} Infer briefly."}]
    answer = [*context, {"role": "user", "content": f"{piece} {_text(40, 2000 + i)} Answer now."}]
    return context, inference, answer


async def _first_token_s(
    engine: VllmEngine, messages: list[Message], max_tokens: int, request_id: str, since: float
) -> float:
    first = None
    async for chunk in engine.stream(messages, SamplingSettings(max_tokens=max_tokens), request_id):
        if chunk.done and chunk.usage is not None:
            first = chunk.usage.first_token_at
    if first is None:
        raise RuntimeError(f"{request_id}: no token")
    return first - since


async def _abort(engine: VllmEngine, task: asyncio.Task, request_id: str) -> None:
    await engine.abort(request_id)
    task.cancel()
    with contextlib.suppress(BaseException):
        await task


def _inference(engine: VllmEngine, messages: list[Message], request_id: str) -> asyncio.Task:
    return asyncio.create_task(_first_token_s(engine, messages, 40, request_id, time.monotonic()))


async def prefill_chunk(trials: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    for budget in (None, 64, 32):
        chunked = {"max_num_batched_tokens": budget, "enable_chunked_prefill": True}
        engine = await VllmEngine.start(None, **({} if budget is None else chunked))
        label = f"max_num_batched_tokens={budget or 'default'}"
        for i in range(trials):
            context, inference, answer = _prompts(i)
            await _first_token_s(engine, context, 1, f"warm{i}", time.monotonic())
            task = _inference(engine, inference, f"inf{i}")
            await asyncio.sleep(random.Random(i).uniform(0.0, 0.5))
            await _abort(engine, task, f"inf{i}")
            sent = time.monotonic()
            results.setdefault(label, []).append(
                await _first_token_s(engine, answer, 8, f"ans{i}", sent)
            )
        await engine.close()
    return results


async def pause_decode(trials: int) -> dict[str, list[float]]:
    from faster_whisper.audio import decode_audio

    from voice_livemind.asr.decoder import WhisperDecoder
    from voice_livemind.asr.models import load_whisper

    engine = await VllmEngine.start(None)
    decoder = WhisperDecoder(load_whisper(None))
    sentence = "A small population of birds is blown to an isolated island by a hurricane."
    with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
        subprocess.run(["espeak-ng", "-w", wav.name, sentence], check=True)
        speech = decode_audio(wav.name)[: 16_000 * 4]
    results: dict[str, list[float]] = {}
    for i in range(trials):
        abort_at = ("end", "start", "none")[i % 3]
        context, inference, answer = _prompts(i)
        await _first_token_s(engine, context, 1, f"warm{i}", time.monotonic())
        task = None if abort_at == "none" else _inference(engine, inference, f"inf{i}")
        await asyncio.sleep(random.Random(i).uniform(0.0, 0.3))
        if task is not None and abort_at == "start":
            await _abort(engine, task, f"inf{i}")
        await asyncio.to_thread(decoder.decode, speech, "")
        decoded = time.monotonic()
        if task is not None and abort_at == "end":
            await _abort(engine, task, f"inf{i}")
        label = "no inference" if abort_at == "none" else f"inference aborted at decode {abort_at}"
        results.setdefault(label, []).append(
            await _first_token_s(engine, answer, 8, f"ans{i}", decoded)
        )
    await engine.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenario", choices=["prefill-chunk", "pause-decode"])
    parser.add_argument("--trials", type=int, default=24)
    args = parser.parse_args()
    run = prefill_chunk if args.scenario == "prefill-chunk" else pause_decode
    results = asyncio.run(run(args.trials))
    print(
        f"{platform.processor() or platform.machine()}, {len(results)} arms, {args.trials} trials"
    )
    print("| arm | answer first token, mean | max |")
    print("|---|---|---|")
    for label, values in results.items():
        print(f"| {label} | {statistics.mean(values):.3f} s | {max(values):.3f} s |")


if __name__ == "__main__":
    main()
