"""Does decoding several sessions' buffers in one Whisper call pay on this machine?

Issue 19 asks for batched decoding across sessions: K talkers' buffers in one encoder/decoder
call instead of K calls. This measures what that would save before it is built. For each
buffer length and batch size B: B different spoken buffers (BENCH_QUESTIONS, cut to the
length) decoded by CTranslate2's Whisper directly, greedy, with timestamp tokens and the
English start sequence as the streaming decoder's pass, once as B calls of one buffer and once
as one call of B; the encoder either on the window the streaming decoder uses (the buffer plus
`DecoderConfig.audio_context_pad_s`, in whole seconds) or on Whisper's full 30 s window (what
faster-whisper's batched pipeline and a GPU would use). Not included: the prompt of earlier
text and the word alignment that a streaming decode also runs.
Reported: the wall time of both ways, their ratio (> 1: the batch is faster) and whether the
batch gave the same tokens as the single calls. Calls alternate between the two ways, and
each figure is the median of `--repeats`.

    .venv/bin/python benchmarks/asr_batch.py                 # tiny.en, 2 threads
    .venv/bin/python benchmarks/asr_batch.py --lengths 3,6 --batches 1,2,4,8 --repeats 5
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import ctranslate2
import numpy as np
from faster_whisper.tokenizer import Tokenizer

from voice_livemind.asr.decoder import DecoderConfig
from voice_livemind.asr.models import load_whisper
from voice_livemind.audio.speech_samples import BENCH_QUESTIONS, synthesize

SAMPLE_RATE = 16_000
FRAMES_PER_S = 100
FULL_WINDOW_FRAMES = 3_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="Whisper model (default: tiny.en)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lengths", default="3,6", help="buffer lengths in seconds")
    parser.add_argument("--batches", default="1,2,4,8", help="batch sizes")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    whisper = load_whisper(args.model, device="cpu", cpu_threads=args.threads)
    model: ctranslate2.models.Whisper = whisper.model
    tokenizer = Tokenizer(
        whisper.hf_tokenizer, whisper.model.is_multilingual, task="transcribe", language="en"
    )
    prompt = list(tokenizer.sot_sequence)  # timestamps on, as the streaming decoder runs
    pad_s = DecoderConfig().audio_context_pad_s or 0.0
    speech = [synthesize(q) for q in BENCH_QUESTIONS]
    print(f"CTranslate2 {ctranslate2.__version__}, {args.threads} threads, {len(speech)} clips")
    header = (
        "| window | buffer s | batch | one by one ms | one call ms | speed-up | same tokens |\n"
        "|---|---|---|---|---|---|---|"
    )
    print(header)
    for length_s in (float(x) for x in args.lengths.split(",")):
        short = min(FULL_WINDOW_FRAMES, math.ceil(length_s + pad_s) * FRAMES_PER_S)
        for window, frames in (("short", short), ("30 s", FULL_WINDOW_FRAMES)):
            for batch in (int(x) for x in args.batches.split(",")):
                features = np.stack(
                    [mel(whisper, speech[i % len(speech)], length_s, frames) for i in range(batch)]
                )
                max_length = 16 + math.ceil(8 * length_s)  # as `DecoderConfig.max_tokens_per_s`
                decode(model, features, prompt, max_length)  # warm: allocations, caches
                times: dict[str, list[float]] = {"singles": [], "batch": []}
                tokens: dict[str, list[list[int]]] = {}
                for repeat in range(args.repeats):
                    ways = ("singles", "batch") if repeat % 2 == 0 else ("batch", "singles")
                    for way in ways:  # alternating which goes first: drifts weigh on both
                        t = time.perf_counter()
                        if way == "batch":
                            tokens[way] = decode(model, features, prompt, max_length)
                        else:
                            tokens[way] = [
                                decode(model, features[i : i + 1], prompt, max_length)[0]
                                for i in range(batch)
                            ]
                        times[way].append(time.perf_counter() - t)
                one_by_one = statistics.median(times["singles"])
                one_call = statistics.median(times["batch"])
                print(
                    f"| {window} | {length_s:g} | {batch} | {1000 * one_by_one:.0f} | "
                    f"{1000 * one_call:.0f} | {one_by_one / one_call:.2f}x | "
                    f"{'yes' if tokens['singles'] == tokens['batch'] else 'no'} |",
                    flush=True,
                )


def mel(whisper, audio: np.ndarray, length_s: float, frames: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The log-mel features of the first `length_s` of `audio`, padded with silence to `frames`."""
    clip = np.zeros(round(length_s * SAMPLE_RATE), dtype=np.float32)
    part = audio[: len(clip)]
    clip[: len(part)] = part
    padded = np.concatenate([clip, np.zeros(FULL_WINDOW_FRAMES * 160, dtype=np.float32)])
    return whisper.feature_extractor(padded)[:, :frames].astype(np.float32)


def decode(
    model: ctranslate2.models.Whisper, features: np.ndarray, prompt: list[int], max_length: int
) -> list[list[int]]:
    view = ctranslate2.StorageView.from_array(np.ascontiguousarray(features))
    encoded = model.encode(view, to_cpu=True)
    results = model.generate(encoded, [prompt] * len(features), beam_size=1, max_length=max_length)
    return [r.sequences_ids[0] for r in results]


if __name__ == "__main__":
    main()
