"""K talkers on one Whisper worker: the decode scheduler against arrival order, ASR only.

K streams, each a spoken question (espeak-ng, cached) with lead and trail silence, replayed in
real time in 0.1 s chunks and started at staggered offsets, share one tiny.en model and one
worker thread, either:
- `arrival`: a ThreadPoolExecutor(1) taking `recognizer.feed(chunk)` calls in arrival order,
  each stream handing over whatever arrived while its previous call ran (the pipeline before
  `asr/scheduler.py`), or
- `scheduler`: a `DecodeScheduler` through `RecognizerStream` (what `VoicePipeline` does now).

Per utterance: the wall time from when its end of speech was played to its `UtteranceEnded`
(this includes the VAD's `min_silence_s`, the same in both: what differs is the queueing), and
the decodes of all streams. No LLM, no TTS: the whole difference is the order of ASR work.

    .venv/bin/python benchmarks/asr_scheduler.py --users 1,2,4 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import statistics
import time

import numpy as np

from voice_livemind.asr.decoder import WhisperDecoder
from voice_livemind.asr.events import AsrDecoded, UtteranceEnded
from voice_livemind.asr.models import load_whisper
from voice_livemind.asr.recognizer import RecognizerConfig, StreamingRecognizer
from voice_livemind.asr.scheduler import DecodeScheduler, RecognizerStream
from voice_livemind.audio.speech_samples import BENCH_QUESTIONS, synthesize, trim_silence

SAMPLE_RATE = 16_000
CHUNK_S = 0.1
LEAD_S, TRAIL_S = 0.3, 1.5


def clips() -> list[tuple[np.ndarray, float]]:
    """(audio, seconds from its start to the end of speech) per question."""
    out = []
    for text in BENCH_QUESTIONS:
        speech = trim_silence(synthesize(text))
        lead, trail = np.zeros(round(LEAD_S * SAMPLE_RATE)), np.zeros(round(TRAIL_S * SAMPLE_RATE))
        audio = np.concatenate([lead, speech, trail]).astype(np.float32)
        out.append((audio, LEAD_S + len(speech) / SAMPLE_RATE))
    return out


async def play(audio: np.ndarray, start_at: float, put) -> None:
    """Hand `audio` to `put` in real time from `start_at` (event-loop time)."""
    loop = asyncio.get_running_loop()
    chunk = round(CHUNK_S * SAMPLE_RATE)
    for first in range(0, len(audio), chunk):
        block = audio[first : first + chunk]
        await asyncio.sleep(max(0.0, start_at + (first + len(block)) / SAMPLE_RATE - loop.time()))
        put(block)


async def one_stream(
    policy: str, whisper, worker, audio: np.ndarray, speech_end_s: float, start_at: float
) -> tuple[float | None, list]:
    """Replay one clip; (end of speech -> UtteranceEnded seconds, the stream's events)."""
    config = RecognizerConfig()
    rec = StreamingRecognizer(WhisperDecoder(whisper, config.decoder), config)
    loop = asyncio.get_running_loop()
    stream = RecognizerStream(rec, worker) if policy == "scheduler" else None
    pending: list[np.ndarray] = []  # arrival order: what arrived since the last feed
    arrival = asyncio.Event()
    played = False

    def put(block: np.ndarray) -> None:
        if stream is not None:
            stream.put(block)
        else:
            pending.append(block)
        arrival.set()

    async def player() -> None:
        nonlocal played
        await play(audio, start_at, put)
        played = True
        arrival.set()

    def waiting() -> bool:
        return stream.arrived_s > 0 if stream is not None else bool(pending)

    playing = asyncio.create_task(player())
    events: list = []
    ended_at = None
    while True:
        while not waiting() and not played:
            arrival.clear()
            await arrival.wait()
        if not waiting():
            break
        if stream is not None:
            _chunk, new = await stream.feed_arrived()
        else:
            chunk = np.concatenate(pending)
            pending.clear()
            new = await loop.run_in_executor(worker, rec.feed, chunk)
        events += new
        if ended_at is None and any(isinstance(e, UtteranceEnded) for e in new):
            ended_at = loop.time()
    await playing
    latency = None if ended_at is None else ended_at - (start_at + speech_end_s)
    return latency, events


async def run(policy: str, k: int, rounds: int, whisper, clip_list, seed: int) -> dict:
    rng = np.random.default_rng(seed + k)
    worker = (
        DecodeScheduler() if policy == "scheduler" else concurrent.futures.ThreadPoolExecutor(1)
    )
    latencies, decodes, queued = [], 0, []
    try:
        for r in range(rounds):
            start = asyncio.get_running_loop().time() + 0.5
            tasks = [
                one_stream(
                    policy,
                    whisper,
                    worker,
                    *clip_list[(r * k + i) % len(clip_list)],
                    start + rng.uniform(0.0, 1.5),
                )
                for i in range(k)
            ]
            for latency, events in await asyncio.gather(*tasks):
                latencies.append(latency)
                done = [e for e in events if isinstance(e, AsrDecoded)]
                decodes += len(done)
                queued += [e.queued_s for e in done]
    finally:
        worker.shutdown()
    ok = sorted(x for x in latencies if x is not None)

    def pct(q: int) -> float | None:  # nearest rank
        return (
            round(ok[min(len(ok) - 1, max(0, round(q / 100 * len(ok) + 0.5) - 1))], 3)
            if ok
            else None
        )

    return {
        "policy": policy,
        "users": k,
        "utterances": len(ok),
        "missed": len(latencies) - len(ok),
        "end_to_transcript_p50_s": pct(50),
        "end_to_transcript_p95_s": pct(95),
        "decodes_per_utterance": round(decodes / max(1, len(latencies)), 1),
        "queued_p50_s": round(statistics.median(queued), 3) if queued else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="1,2,4", help="K values, comma-separated")
    parser.add_argument("--rounds", type=int, default=2, help="utterances per stream per K")
    parser.add_argument("--policies", default="arrival,scheduler")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    whisper = load_whisper()
    clip_list = clips()
    print(f"load average before: {os.getloadavg()}", flush=True)
    rows = []
    for k in (int(x) for x in args.users.split(",")):
        for policy in args.policies.split(","):
            started = time.monotonic()
            row = asyncio.run(run(policy, k, args.rounds, whisper, clip_list, args.seed))
            row["wall_s"] = round(time.monotonic() - started, 1)
            row["load_avg_1m"] = round(os.getloadavg()[0], 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(
        "\n| users | policy | utterances (missed) | end of speech -> transcript p50, p95 s | "
        "decodes/utterance | queued p50 s | load avg |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['users']} | {r['policy']} | {r['utterances']} ({r['missed']}) | "
            f"{r['end_to_transcript_p50_s']}, {r['end_to_transcript_p95_s']} | "
            f"{r['decodes_per_utterance']} | {r['queued_p50_s']} | {r['load_avg_1m']} |"
        )


if __name__ == "__main__":
    main()
