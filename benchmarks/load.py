"""K simulated users talking to `voice-livemind serve` at once, over WebSocket on loopback.

Each user connects, then for each of its turns streams a spoken question (espeak-ng, cached on
disk) in real time, as a microphone would, followed by silence, and waits for the answer. The
latency is measured at the client, as a user feels it: from the moment the last word of the
question has been sent (the end of speech) to the first answer audio received. Everything is
bounded: `--turns` per user, `--max-seconds` per run, `--turn-timeout` per turn.

The ASR lag of a turn is how far the recogniser was behind the talker at the end of speech: the
`behind_s` of the last Whisper decode before the utterance ended (the final pass), from the
arrival of the newest audio it heard to its result, queueing for the shared decoder included.

    .venv/bin/python benchmarks/load.py --users 1,2,4,8 --turns 2 --plot runs/load.png
    .venv/bin/python benchmarks/load.py --users 4 --json          # one JSON line per K
    .venv/bin/python benchmarks/load.py --asr-batch 4              # batched Whisper passes
    .venv/bin/python benchmarks/load.py --url ws://host:8765/ws    # a server already running

Without --url it starts `voice-livemind serve` (in-process vLLM, SmolLM2) on a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np

from voice_livemind.audio.speech_samples import BENCH_QUESTIONS, synthesize, trim_silence
from voice_livemind.server.client import LiveMindClient
from voice_livemind.server.process import serve_process

LEAD_S, TRAIL_S = 0.3, 1.5  # silence before the question, and after it (the VAD's endpoint)
SAMPLE_RATE = 16_000


@dataclass
class TurnResult:
    first_audio_s: float | None = None  # end of speech -> first audio, at the client
    server_first_audio_s: float | None = None  # the same, from the server's VAD (turn_summary)
    first_token_s: float | None = None  # end of input -> first answer token (server)
    inferences: int = 0  # finished (the server's turn summary)
    inferences_started: int = 0
    inferences_aborted: int = 0
    inference_s: list[float] = field(default_factory=list)  # started -> done, at the client
    asr_lag_s: float | None = None  # the final decode's `behind_s` (see the module docstring)
    asr_queued_s: float | None = None  # how long that decode waited for the shared decoder
    error: str | None = None


@dataclass
class RunResult:
    users: int
    wall_s: float
    turns: list[TurnResult] = field(default_factory=list)
    load_before: float = 0.0
    load_after: float = 0.0

    def summary(self) -> dict:
        ok = [t.first_audio_s for t in self.turns if t.error is None and t.first_audio_s]
        return {
            "users": self.users,
            "turns": len(ok),
            "errors": sum(1 for t in self.turns if t.error is not None),
            "p50_s": _pct(ok, 50),
            "p95_s": _pct(ok, 95),
            "throughput_turns_per_min": round(60 * len(ok) / self.wall_s, 2),
            "server_p50_s": _pct([t.server_first_audio_s for t in self.turns], 50),
            "first_token_p50_s": _pct([t.first_token_s for t in self.turns], 50),
            "inferences_per_turn": _mean([t.inferences for t in self.turns]),
            "inferences_started_per_turn": _mean([t.inferences_started for t in self.turns]),
            "inferences_aborted_per_turn": _mean([t.inferences_aborted for t in self.turns]),
            "inference_p50_s": _pct([s for t in self.turns for s in t.inference_s], 50),
            "asr_lag_p50_s": _pct([t.asr_lag_s for t in self.turns], 50),
            "asr_lag_p95_s": _pct([t.asr_lag_s for t in self.turns], 95),
            "asr_queued_p50_s": _pct([t.asr_queued_s for t in self.turns], 50),
            "wall_s": round(self.wall_s, 1),
            "load_avg_1m": [round(self.load_before, 2), round(self.load_after, 2)],
            "error_kinds": sorted({t.error for t in self.turns if t.error}),
        }


def _mean(values: list[int]) -> float:
    return round(statistics.fmean(values), 2) if values else 0


def _pct(values: list[float | None], q: int) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    index = min(len(values) - 1, max(0, round(q / 100 * len(values) + 0.5) - 1))  # nearest rank
    return round(values[index], 3)


def spoken_questions() -> list[tuple[np.ndarray, float]]:
    """(audio, seconds from its start to the end of speech) per question."""
    clips = []
    for text in BENCH_QUESTIONS:
        speech = trim_silence(synthesize(text))
        lead, trail = np.zeros(round(LEAD_S * SAMPLE_RATE)), np.zeros(round(TRAIL_S * SAMPLE_RATE))
        audio = np.concatenate([lead, speech, trail]).astype(np.float32)
        clips.append((audio, LEAD_S + len(speech) / SAMPLE_RATE))
    return clips


async def one_turn(
    client: LiveMindClient, audio: np.ndarray, speech_end_s: float, timeout_s: float
) -> TurnResult:
    result = TurnResult()
    final_decode: dict | None = None  # the latest decode before the utterance ended
    inference_started_at: dict[str, float] = {}
    sender = asyncio.create_task(client.send_audio(audio, chunk_s=0.1, realtime=True))
    speech_end_at = time.monotonic() + speech_end_s  # sending is paced in real time
    try:
        deadline = time.monotonic() + len(audio) / SAMPLE_RATE + timeout_s
        while True:
            message = await client.receive(max(0.1, deadline - time.monotonic()))
            if message["type"] == "tts_audio" and result.first_audio_s is None:
                result.first_audio_s = round(time.monotonic() - speech_end_at, 3)
            elif message["type"] == "asr_decoded":
                final_decode = message
            elif message["type"] == "inference_started":
                result.inferences_started += 1
                inference_started_at[message["call_id"]] = time.monotonic()
            elif message["type"] == "inference_done":
                if (started := inference_started_at.get(message["call_id"])) is not None:
                    result.inference_s.append(time.monotonic() - started)
            elif message["type"] == "inference_aborted":
                result.inferences_aborted += 1
            elif message["type"] == "utterance_ended" and final_decode is not None:
                if result.asr_lag_s is None:
                    result.asr_lag_s = final_decode.get("behind_s")
                    result.asr_queued_s = final_decode.get("queued_s")
            elif message["type"] == "error":
                result.error = message.get("code") or "engine"
            elif message["type"] == "turn_summary":
                figures = message["figures"]
                result.server_first_audio_s = figures["end_of_speech_to_first_audio_s"]
                result.first_token_s = figures["input_end_to_first_token_s"]
                result.inferences = figures["inferences"]
                if result.first_audio_s is None and result.error is None:
                    result.error = "no audio"
                return result
    except (TimeoutError, ConnectionError) as exc:
        result.error = "timeout" if isinstance(exc, TimeoutError) else "disconnected"
        return result
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sender


async def one_user(
    http: aiohttp.ClientSession, url: str, index: int, args: argparse.Namespace, clips, stop_at
) -> list[TurnResult]:
    try:
        client = await LiveMindClient.connect(http, url)
    except (ConnectionError, TimeoutError, aiohttp.ClientError) as exc:
        return [TurnResult(error=f"connect: {type(exc).__name__}")]
    results = []
    try:
        for turn in range(args.turns):
            if time.monotonic() > stop_at:
                break
            audio, speech_end_s = clips[(index + turn) % len(clips)]
            results.append(await one_turn(client, audio, speech_end_s, args.turn_timeout))
            if results[-1].error in ("timeout", "disconnected"):
                break
    finally:
        await client.close()
    return results


async def run_users(url: str, users: int, args: argparse.Namespace, clips) -> RunResult:
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    stop_at = started + args.max_seconds
    async with aiohttp.ClientSession() as http:
        per_user = await asyncio.gather(
            *(one_user(http, url, i, args, clips, stop_at) for i in range(users))
        )
    run = RunResult(users, time.monotonic() - started, [t for ts in per_user for t in ts])
    run.load_before, run.load_after = load_before, os.getloadavg()[0]
    return run


@contextlib.contextmanager
def started_server(args: argparse.Namespace, max_users: int) -> Iterator[str]:
    options = ["--max-sessions", str(max_users), "--max-answer-tokens", str(args.max_answer_tokens)]
    options += ["--asr-batch", str(args.asr_batch)]
    with serve_process(options, Path(args.server_log)) as server:
        yield server.ws_url


def machine() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((x.split(":", 1)[1].strip() for x in lines if "model name" in x), "unknown CPU")
    return f"{model}, {os.cpu_count()} cores"


def table(runs: list[RunResult]) -> str:
    lines = [
        "| users | turns | errors | p50 s | p95 s | turns/min | server p50 s | "
        "first token p50 s | inferences/turn (started, aborted) | inference p50 s | "
        "ASR lag p50, p95 s | ASR queued p50 s | "
        "load avg (1 min) before, after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        s = run.summary()
        lines.append(
            f"| {s['users']} | {s['turns']} | {s['errors']} | {s['p50_s']} | {s['p95_s']} | "
            f"{s['throughput_turns_per_min']} | {s['server_p50_s']} | {s['first_token_p50_s']} | "
            f"{s['inferences_per_turn']} ({s['inferences_started_per_turn']}, "
            f"{s['inferences_aborted_per_turn']}) | {s['inference_p50_s']} | "
            f"{s['asr_lag_p50_s']}, {s['asr_lag_p95_s']} | "
            f"{s['asr_queued_p50_s']} | {s['load_avg_1m'][0]}, {s['load_avg_1m'][1]} |"
        )
    return "\n".join(lines)


def plot(summaries: list[dict], path: Path) -> None:
    """PNG: p50 and p95 end of speech -> first audio against K, with the ASR lag beneath."""
    from voice_livemind.bench.analyze.plots import figure

    fig = figure()
    ax = fig.add_subplot()
    ks = [s["users"] for s in summaries]
    series = [
        ("p50_s", "end of speech -> first audio, p50", "-o"),
        ("p95_s", "end of speech -> first audio, p95", "-s"),
        ("asr_lag_p50_s", "ASR lag at the end of speech, p50", "--o"),
        ("asr_lag_p95_s", "ASR lag at the end of speech, p95", "--s"),
    ]
    for key, label, style in series:
        points = [(k, s[key]) for k, s in zip(ks, summaries, strict=True) if s[key] is not None]
        if points:
            ax.plot(*zip(*points, strict=True), style, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("users talking at once (K)")
    ax.set_ylabel("seconds")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    ax.set_title("serve under load: latency against the number of users")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="1,2,4,8", help="K values, comma-separated")
    parser.add_argument("--turns", type=int, default=2, help="spoken questions per user")
    parser.add_argument("--max-seconds", type=float, default=240, help="per K: no new turns after")
    parser.add_argument("--turn-timeout", type=float, default=120, help="after the audio is sent")
    parser.add_argument("--url", default=None, help="ws://host:port/ws of a running server")
    parser.add_argument("--max-answer-tokens", type=int, default=64, help="for the started server")
    parser.add_argument("--asr-batch", type=int, default=1, help="the started server's --asr-batch")
    parser.add_argument("--server-log", default="runs/load_server.log")
    parser.add_argument("--json", action="store_true", help="one JSON object per K")
    parser.add_argument("--plot", type=Path, default=None, help="PNG of latency against K")
    args = parser.parse_args()
    ks = [int(k) for k in args.users.split(",")]
    if min(ks) < 1 or args.turns < 1:
        parser.error("--users and --turns must be positive")
    clips = spoken_questions()
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(started_server(args, max(ks)))
        runs = []
        for k in ks:
            runs.append(asyncio.run(run_users(url, k, args, clips)))
            if args.json:
                print(json.dumps(runs[-1].summary()), flush=True)
            else:
                print(f"K={k}: {json.dumps(runs[-1].summary())}", file=sys.stderr, flush=True)
    if args.plot is not None:
        plot([run.summary() for run in runs], args.plot)
    if not args.json:
        print(f"machine: {machine()}\n")
        print(table(runs))


if __name__ == "__main__":
    main()
