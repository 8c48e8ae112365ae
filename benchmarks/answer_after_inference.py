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

- `in-flight`: as in the spoken benchmark, the inference (LiveMind's own settings: an action
  regex, 48 tokens) runs for `--speech-s` seconds beside back-to-back Whisper decodes (the user
  talking: the engine, at nice 10, crawls), then comes the pause decode and the answer. The
  inference is aborted as the answer is sent (`send`, what the session does), when the pause
  decode starts (`pause`), or it has finished before the pause decode (`finished`, the case
  where LiveMind's thinking had caught up).

Each answer shares a ~400-token context with the inference (cached, as LiveMind's prompts are)
and adds ~130 new tokens; 8 tokens are generated. The answer's time to first token is measured
from when it is sent (`prefill-chunk`, `in-flight`) or from the end of the decode
(`pause-decode`).

    .venv/bin/python benchmarks/answer_after_inference.py prefill-chunk [--trials 16]
    .venv/bin/python benchmarks/answer_after_inference.py pause-decode [--trials 24]
    .venv/bin/python benchmarks/answer_after_inference.py in-flight [--trials 24] [--speech-s 4]
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
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import numpy as np

from voice_livemind.llm.base import Chunk, Message, SamplingSettings
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
    engine: VllmEngine,
    messages: list[Message],
    max_tokens: int,
    request_id: str,
    since: float,
    base: SamplingSettings | None = None,
) -> float:
    """Seconds from `since` to the request's first token; `base`: its settings but the limit."""
    first = None
    settings = replace(base or SamplingSettings(), max_tokens=max_tokens)
    async for chunk in engine.stream(messages, settings, request_id):
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


def _whisper_and_speech() -> tuple[Any, np.ndarray]:
    """The recogniser's decoder (tiny.en) and 4 s of espeak speech to decode."""
    from faster_whisper.audio import decode_audio

    from voice_livemind.asr.decoder import WhisperDecoder
    from voice_livemind.asr.models import load_whisper

    decoder = WhisperDecoder(load_whisper(None))
    sentence = "A small population of birds is blown to an isolated island by a hurricane."
    with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
        subprocess.run(["espeak-ng", "-w", wav.name, sentence], check=True)
        speech = decode_audio(wav.name)[: 16_000 * 4]
    return decoder, speech


async def pause_decode(trials: int) -> dict[str, list[float]]:
    engine = await VllmEngine.start(None)
    decoder, speech = _whisper_and_speech()
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


async def in_flight(trials: int, speech_s: float) -> dict[str, list[float]]:
    from voice_livemind.livemind.config import SessionConfig

    engine = await VllmEngine.start(None)
    decoder, speech = _whisper_and_speech()
    livemind = SessionConfig()  # the session's own inference and answer settings
    labels = {
        "send": "inference aborted as the answer is sent",
        "pause": "inference aborted when the pause decode starts",
        "finished": "inference finished before the pause decode",
    }
    results: dict[str, list[float]] = {}
    for i in range(trials):
        arm = list(labels)[i % len(labels)]
        context, inference, answer = _prompts(i)
        await _first_token_s(engine, context, 1, f"warm{i}", time.monotonic())
        thinking = engine.stream(inference, livemind.inference, f"inf{i}")
        thinker = asyncio.create_task(_drain(thinking))
        talking_until = time.monotonic() + speech_s
        while time.monotonic() < talking_until:  # cadence decodes while the user talks
            await asyncio.to_thread(decoder.decode, speech, "")
            await asyncio.sleep(0.07)
        await asyncio.sleep(0.1)  # the pause, until the pause decode is due
        if arm == "pause":
            await _abort(engine, thinker, f"inf{i}")
        elif arm == "finished":
            await thinker
        await asyncio.to_thread(decoder.decode, speech, "")  # the pause decode
        sent = time.monotonic()
        answered = asyncio.create_task(
            _first_token_s(engine, answer, 8, f"ans{i}", sent, livemind.answer)
        )
        if arm == "send":
            await asyncio.sleep(0)  # as `LiveMindSession.speculate`: one loop turn later
            await _abort(engine, thinker, f"inf{i}")
        results.setdefault(labels[arm], []).append(await answered)
    await engine.close()
    return results


async def _drain(chunks: AsyncIterator[Chunk]) -> None:
    async for _chunk in chunks:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenario", choices=["prefill-chunk", "pause-decode", "in-flight"])
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--speech-s", type=float, default=4.0, help="in-flight: talking time")
    args = parser.parse_args()
    if args.scenario == "prefill-chunk":
        results = asyncio.run(prefill_chunk(args.trials))
    elif args.scenario == "pause-decode":
        results = asyncio.run(pause_decode(args.trials))
    else:
        results = asyncio.run(in_flight(args.trials, args.speech_s))
    print(
        f"{platform.processor() or platform.machine()}, {len(results)} arms, {args.trials} trials"
    )
    print("| arm | answer first token, mean | max |")
    print("|---|---|---|")
    for label, values in results.items():
        print(f"| {label} | {statistics.mean(values):.3f} s | {max(values):.3f} s |")


if __name__ == "__main__":
    main()
