"""Soak: K well-behaved users talk to `voice-livemind serve` for N minutes while abusive clients
flood it, send garbage, hold sockets open without starting and stop reading.

Well-behaved users stream a spoken question in real time (as `load.py` does), wait for the
answer, pause and ask again, reconnecting if they are cut off. Each abuser cycles through the
abuses, one per `--abuse-period` seconds:

    flood       audio at 20x real time (the server should refuse what is ahead of real time)
    long_word   4,000-character messages of one unbroken word, then `end` (quadratic before)
    garbage     malformed JSON, unknown types, odd and oversized frames, binary before start
    slowloris   8 sockets that never send `start` (closed after the start timeout)
    no_reader   a session with speech on that asks and never reads what comes back

Every `--sample-s` the server's RSS (its process and children: vLLM's engine process too) and
the latency of `/health` are sampled. With `--baseline-minutes M` the users first talk alone for
M minutes: their latency then is the reference for the abuse phase; with `--alternate-s S`
the two phases alternate in blocks of S seconds instead, so that what drifts over a run (the
users' growing conversations, their turns falling into step) weighs on both alike. A turn
that straddles two phases counts in neither.

Every turn and sample is appended to `--output` (JSONL) as it happens, so a run that is stopped
keeps what it measured; `--summarize FILE` prints the summary of such a file again.

    flock /tmp/vl-bench.lock .venv/bin/python benchmarks/soak.py --users 4 --abusers 2 --minutes 30
    for a in flood long_word garbage slowloris no_reader; do   # one abuser doing each abuse
      flock /tmp/vl-bench.lock .venv/bin/python benchmarks/soak.py --users 2 --abusers 1 \
        --abuses $a --baseline-minutes 3 --minutes 3 --alternate-s 60 \
        --output benchmarks/results/soak/$a.jsonl
    done
    .venv/bin/python benchmarks/soak.py --summarize benchmarks/results/soak/soak.jsonl
    .venv/bin/python benchmarks/soak.py --per-abuse benchmarks/results/soak/{flood,long_word}.jsonl
    .venv/bin/python benchmarks/soak.py --plot rss.png "before=old.jsonl,after=new.jsonl"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import signal
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import _pct, machine, one_turn, spoken_questions

from voice_livemind.audio.sinks import to_pcm16
from voice_livemind.server.client import LiveMindClient
from voice_livemind.server.process import serve_process

SAMPLE_RATE = 16_000
ABUSES = ("flood", "long_word", "garbage", "slowloris", "no_reader")


class Recorder:
    """Appends one JSON line per observation; the file is the run's record."""

    def __init__(self, path: Path, started: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        self.started = started

    def write(self, kind: str, **fields: Any) -> None:
        line = {"kind": kind, "t": round(time.monotonic() - self.started, 2), **fields}
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


# -- well-behaved users ------------------------------------------------------------------------


async def user(http, url, index, clips, phase_end, recorder, phase, args) -> None:
    turn = 0
    while time.monotonic() < phase_end():
        try:
            client = await LiveMindClient.connect(http, url, timeout_s=30)
        except (ConnectionError, TimeoutError, aiohttp.ClientError) as exc:
            recorder.write("turn", user=index, phase=phase(), error=f"connect {type(exc).__name__}")
            await asyncio.sleep(2)
            continue
        try:
            while time.monotonic() < phase_end():
                audio, speech_end_s = clips[(index + turn) % len(clips)]
                turn += 1
                asked_in = phase()
                result = await one_turn(client, audio, speech_end_s, args.turn_timeout)
                # A turn that began in one phase and ended in the other belongs to neither.
                recorder.write(
                    "turn",
                    user=index,
                    phase=asked_in if phase() == asked_in else "boundary",
                    first_audio_s=result.first_audio_s,
                    error=result.error,
                )
                if result.error in ("timeout", "disconnected"):
                    break
                await asyncio.sleep(random.uniform(0.5, 2.0))  # a pause between questions
        finally:
            with contextlib.suppress(Exception):
                await client.close()


# -- abusers -----------------------------------------------------------------------------------


async def _drain(ws: aiohttp.ClientWebSocketResponse) -> int:
    """Read and count what the server sends until it closes."""
    count = 0
    with contextlib.suppress(Exception):
        while (await ws.receive()).type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            count += 1
    return count


async def _started(http, url, speech=False) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(url, max_msg_size=0)
    await ws.send_str(json.dumps({"type": "start", "speech": speech}))
    return ws


async def flood(http, url, until: float) -> str:
    ws = await _started(http, url)
    reader = asyncio.create_task(_drain(ws))
    noise = to_pcm16(np.random.default_rng(0).uniform(-0.3, 0.3, SAMPLE_RATE // 10))
    frames = 0
    with contextlib.suppress(Exception):
        while time.monotonic() < until and not ws.closed:
            await ws.send_bytes(noise)  # 0.1 s of audio every 5 ms: 20x real time
            frames += 1
            await asyncio.sleep(0.005)
    await ws.close()
    return f"{frames} frames, {await reader} messages back"


async def long_word(http, url, until: float) -> str:
    ws = await _started(http, url, speech=False)
    reader = asyncio.create_task(_drain(ws))
    sent = 0
    with contextlib.suppress(Exception):
        while time.monotonic() < until and not ws.closed:
            for _ in range(6):
                await ws.send_str(json.dumps({"type": "text", "text": "a" * 3999 + " "}))
                sent += 1
            await ws.send_str(json.dumps({"type": "end"}))
            await asyncio.sleep(1.0)
    await ws.close()
    return f"{sent} long messages, {await reader} messages back"


async def garbage(http, url, until: float) -> str:
    rng = random.Random(1)
    sent = 0
    with contextlib.suppress(Exception):
        while time.monotonic() < until:
            ws = await http.ws_connect(url, max_msg_size=0)
            reader = asyncio.create_task(_drain(ws))
            await ws.send_bytes(b"\x00\x01" * 100)  # audio before start
            await ws.send_str('{"type": "start", "sample_rate": 44100}')
            await ws.send_str('{"type": "start", "speech": false}')
            for _ in range(50):
                choice = rng.randrange(5)
                if choice == 0:
                    await ws.send_str("{" + "x" * rng.randrange(100))
                elif choice == 1:
                    await ws.send_str(json.dumps({"type": rng.choice(["x", "", "start", 1])}))
                elif choice == 2:
                    await ws.send_bytes(bytes(rng.randrange(256) for _ in range(3)))  # odd
                elif choice == 3:
                    await ws.send_bytes(b"\x00" * 70_000)  # over the frame limit
                else:
                    await ws.send_str(json.dumps({"type": "text", "text": 5000 * "b"}))
                sent += 1
            await ws.close()
            await reader
            await asyncio.sleep(0.2)
    return f"{sent} bad messages"


async def slowloris(http, url, until: float) -> str:
    held = 0
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    with contextlib.suppress(Exception):
        while time.monotonic() < until:
            sockets = [s for s in sockets if not s.closed]
            while len(sockets) < 8:
                sockets.append(await http.ws_connect(url, heartbeat=5.0))  # pings, no start
                held += 1
            await asyncio.sleep(0.5)
    for ws in sockets:
        with contextlib.suppress(Exception):
            await ws.close()
    return f"{held} sockets opened"


async def no_reader(http, url, until: float) -> str:
    ws = await _started(http, url, speech=True)
    asked = 0
    with contextlib.suppress(Exception):
        while time.monotonic() < until and not ws.closed:
            question = "Tell me a very long story about a farmer and his sheep, please."
            await ws.send_str(json.dumps({"type": "text", "text": question, "final": True}))
            asked += 1
            await asyncio.sleep(3.0)
    with contextlib.suppress(Exception):
        await ws.close()
    return f"{asked} questions, nothing read"


async def abuser(http, url, index, until, recorder, args) -> None:
    kinds = {f.__name__: f for f in (flood, long_word, garbage, slowloris, no_reader)}
    step = index
    while time.monotonic() < until:
        kind = args.abuses[step % len(args.abuses)]
        step += 1
        end = min(until, time.monotonic() + args.abuse_period)
        try:
            outcome = await kinds[kind](http, url, end)
        except Exception as exc:  # the server refused or cut it off: that is the point
            outcome = f"{type(exc).__name__}: {exc}"[:200]
        recorder.write("abuse", abuser=index, abuse=kind, outcome=outcome)
        await asyncio.sleep(max(0.0, end - time.monotonic()))


def run_abusers(
    url: str, started: float, windows: list[tuple[float, float]], output: str, settings: dict
) -> None:
    """The abusers of a soak, in each (from, until) window (monotonic clock, which every process
    shares), appending their records to the run's file."""
    args = argparse.Namespace(**settings)
    recorder = Recorder(Path(output), started)

    async def abuse() -> None:
        async with aiohttp.ClientSession() as http:
            for from_t, until in windows:
                await asyncio.sleep(max(0.0, from_t - time.monotonic()))
                await asyncio.gather(
                    *(abuser(http, url, i, until, recorder, args) for i in range(args.abusers))
                )

    try:
        asyncio.run(abuse())
    finally:
        recorder.close()


# -- monitoring --------------------------------------------------------------------------------


def rss_mb(pid: int) -> tuple[float, float] | None:
    """RSS in MB of the server process with its children (vLLM's engine processes), and of the
    server process alone; None once it is gone."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return None
    sizes: dict[int, int] = {}
    for process in processes:
        with contextlib.suppress(psutil.Error):
            sizes[process.pid] = process.memory_info().rss
    total, own = sum(sizes.values()), sizes.get(pid, 0)
    return round(total / 1024**2, 1), round(own / 1024**2, 1)


def health_latency_s(health_url: str) -> float | None:
    """Seconds `/health` took to answer, None if it did not within 10 s. Timed in a thread of
    its own: on this process's event loop the time would include the loop's own delays (the
    flood sends audio at 20x real time from it)."""
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(health_url, timeout=10) as response:
            response.read()
    except OSError:  # refused, reset, timed out (urllib's URLError is an OSError too)
        return None
    return round(time.perf_counter() - started, 4)


async def monitor(health_url, server_pid, until, recorder, phase, args) -> None:
    while time.monotonic() < until:
        health_s = await asyncio.to_thread(health_latency_s, health_url)
        total, own = (rss_mb(server_pid) if server_pid else None) or (None, None)
        recorder.write("sample", phase=phase(), health_s=health_s, rss_mb=total, server_rss_mb=own)
        await asyncio.sleep(args.sample_s)


# -- the run -----------------------------------------------------------------------------------


def phase_windows(
    started: float, baseline_s: float, abuse_s: float, alternate_s: float
) -> list[tuple[float, float, str]]:
    """The run's phases as (from, until, name): the users alone for `baseline_s`, then with the
    abusers for `abuse_s`. With `alternate_s`, the same totals come in alternating blocks of
    that length, alone first: what drifts over a run (the users' conversations grow, two users'
    turns fall into step and compete) then weighs on both phases alike."""
    left = {"baseline": baseline_s, "abuse": abuse_s}
    block = alternate_s or max(baseline_s, abuse_s)
    windows, t, name = [], started, "baseline"
    while left["baseline"] + left["abuse"] > 1e-9:
        if left[name] <= 1e-9:
            name = "abuse" if name == "baseline" else "baseline"
        length = min(block, left[name])
        windows.append((t, t + length, name))
        t, left[name] = t + length, left[name] - length
        name = "abuse" if name == "baseline" else "baseline"
    return windows


async def soak(url: str, server_pid: int | None, args: argparse.Namespace, clips) -> None:
    started = time.monotonic()
    recorder = Recorder(Path(args.output), started)
    windows = phase_windows(
        started, 60 * args.baseline_minutes, 60 * args.minutes, args.alternate_s
    )
    end = windows[-1][1]
    health_url = url.replace("ws://", "http://").removesuffix("/ws") + "/health"
    recorder.write("run", users=args.users, abusers=args.abusers, abuses=args.abuses,
                   minutes=args.minutes,
                   baseline_minutes=args.baseline_minutes, alternate_s=args.alternate_s,
                   machine=machine(),
                   load_avg=os.getloadavg()[0])  # fmt: skip

    def phase() -> str:
        now = time.monotonic()
        return next((name for _, until, name in windows if now < until), windows[-1][2])

    # The abusers run in a process of their own: on this event loop their floods of messages
    # would delay the users' audio and the timing of their answers, and the figures would
    # measure this client, not the server.
    abusers = multiprocessing.get_context("spawn").Process(
        target=run_abusers,
        args=(
            url,
            started,
            [(a, b) for a, b, name in windows if name == "abuse"],
            args.output,
            vars(args),
        ),
        daemon=True,
    )
    abusers.start()
    try:
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(
                monitor(health_url, server_pid, end, recorder, phase, args),
                *(user(http, url, i, clips, lambda: end, recorder, phase, args)
                  for i in range(args.users)),
            )  # fmt: skip
        await asyncio.to_thread(abusers.join, args.abuse_period + 30)
    finally:
        if abusers.is_alive():
            abusers.terminate()
    crashed = server_pid is not None and not psutil.pid_exists(server_pid)
    recorder.write("end", crashed=crashed, load_avg=os.getloadavg()[0])
    recorder.close()


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every line of a soak's file."""
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def summarize(path: Path) -> dict[str, Any]:
    lines = read_records(path)
    run = next((x for x in lines if x["kind"] == "run"), {})
    summary: dict[str, Any] = {
        "file": str(path),
        "machine": run.get("machine"),
        "abuses": run.get("abuses", []),
    }
    for phase in ("baseline", "abuse"):
        turns = [x for x in lines if x["kind"] == "turn" and x["phase"] == phase]
        if not turns:
            continue
        ok = [x["first_audio_s"] for x in turns if x["error"] is None and x["first_audio_s"]]
        samples = [x for x in lines if x["kind"] == "sample" and x["phase"] == phase]
        health = [x["health_s"] for x in samples]
        summary[phase] = {
            "turns": len(turns),
            "served": len(ok),
            "lost": len(turns) - len(ok),
            "errors": sorted({x["error"] for x in turns if x["error"]}),
            "first_audio_p50_s": _pct(ok, 50),
            "first_audio_p95_s": _pct(ok, 95),
            "health_max_s": max((h for h in health if h is not None), default=None),
            "health_p95_s": _pct(health, 95),
            "health_failures": sum(h is None for h in health),
        }
    rss = [(x["t"], x["rss_mb"]) for x in lines if x["kind"] == "sample" and x["rss_mb"]]
    if rss:
        # Growth from the end of the first minute (models loaded, caches warm) to the end.
        warm = next((r for t, r in rss if t >= 60), rss[0][1])
        summary["rss_mb"] = {"warm": warm, "last": rss[-1][1], "max": max(r for _, r in rss)}
        summary["rss_growth_pct"] = round(100 * (rss[-1][1] - warm) / warm, 1)
    abuses = [x for x in lines if x["kind"] == "abuse"]
    summary["abuse_rounds"] = {k: sum(x["abuse"] == k for x in abuses) for k in ABUSES}
    end = next((x for x in lines if x["kind"] == "end"), None)
    summary["crashed"] = None if end is None else end["crashed"]
    summary["wall_s"] = lines[-1]["t"] if lines else 0
    return summary


def per_abuse_table(paths: list[Path]) -> str:
    """One row per run of a single abuse: the users' first audio p95 with the abuser against
    without it (the issue's bound: 1.5x), lost turns, and `/health` at its slowest."""
    lines = [
        "| abuse | turns alone, with | lost | first audio p50 alone, with s | p95 alone, with s | "
        "p95 ratio | `/health` max s |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in paths:
        summary = summarize(path)
        alone, with_abuser = summary.get("baseline", {}), summary.get("abuse", {})
        p95_alone, p95_with = alone.get("first_audio_p95_s"), with_abuser.get("first_audio_p95_s")
        ratio = f"{p95_with / p95_alone:.2f}x" if p95_alone and p95_with else "-"
        health = max(
            (h for h in (alone.get("health_max_s"), with_abuser.get("health_max_s")) if h),
            default=None,
        )
        lines.append(
            f"| {','.join(summary['abuses'])} | {alone.get('turns')}, "
            f"{with_abuser.get('turns')} | {alone.get('lost', 0) + with_abuser.get('lost', 0)} | "
            f"{alone.get('first_audio_p50_s')}, {with_abuser.get('first_audio_p50_s')} | "
            f"{p95_alone}, {p95_with} | {ratio} | {health} |"
        )
    return "\n".join(lines)


def _label_and_path(spec: str) -> tuple[str, str]:
    label, named, path = spec.partition("=")
    return (label, path) if named else ("", spec)


def plot_rss(png: Path, runs: list[tuple[str, str]]) -> None:
    """PNG: the server's RSS (with its engine processes) over the minutes of each run."""
    from voice_livemind.bench.analyze.plots import figure

    fig = figure()
    ax = fig.add_subplot()
    for label, path in runs:
        lines = read_records(Path(path))
        samples = [(x["t"] / 60, x["rss_mb"]) for x in lines if x["kind"] == "sample"]
        samples = [(t, r) for t, r in samples if r]
        if samples:
            drawn = ax.plot(*zip(*samples, strict=True), label=label or Path(path).stem)
            abuse_from = next((x["t"] / 60 for x in lines if x.get("phase") == "abuse"), None)
            if abuse_from:  # the users were alone before
                ax.axvline(abuse_from, color=drawn[0].get_color(), linestyle=":", alpha=0.6)
    ax.set_xlabel("minutes since the start of the soak (dotted: the abusers start)")
    ax.set_ylabel("server RSS, MB (with its engine processes)")
    ax.set_title("Soak: memory of `serve` under users and abusive clients")
    ax.legend()
    ax.grid(alpha=0.3)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=4, help="well-behaved users")
    parser.add_argument("--abusers", type=int, default=2, help="abusive clients")
    parser.add_argument("--minutes", type=float, default=30, help="with the abusers")
    parser.add_argument("--baseline-minutes", type=float, default=0, help="users alone first")
    parser.add_argument(
        "--alternate-s",
        type=float,
        default=0,
        help="alternate alone and abused blocks of this many seconds (0: alone, then abused)",
    )
    parser.add_argument("--abuse-period", type=float, default=20, help="seconds of each abuse")
    parser.add_argument(
        "--abuses",
        default=",".join(ABUSES),
        help="which abuses, comma-separated (one at a time: the issue's per-abuse figures)",
    )
    parser.add_argument("--sample-s", type=float, default=5, help="RSS and /health every")
    parser.add_argument("--turn-timeout", type=float, default=120, help="after the audio is sent")
    parser.add_argument("--url", default=None, help="ws://host:port/ws of a running server")
    parser.add_argument("--server-pid", type=int, default=None, help="its pid, for its RSS")
    parser.add_argument("--max-answer-tokens", type=int, default=64, help="for the started server")
    parser.add_argument("--server-log", default="runs/soak_server.log")
    parser.add_argument("--output", default="benchmarks/results/soak/soak.jsonl")
    parser.add_argument("--summarize", default=None, metavar="FILE", help="only summarise FILE")
    parser.add_argument(
        "--per-abuse",
        nargs="+",
        metavar="FILE",
        help="only tabulate runs of one abuse each (`--abuses X`) against their baselines",
    )
    parser.add_argument(
        "--plot",
        nargs=2,
        metavar=("PNG", "FILES"),
        help="only plot RSS over time of FILES (comma-separated, `label=path` to name one)",
    )
    args = parser.parse_args()
    if args.summarize:
        print(json.dumps(summarize(Path(args.summarize)), indent=2))
        return
    if args.per_abuse:
        print(per_abuse_table([Path(f) for f in args.per_abuse]))
        return
    if args.plot:
        png, files = args.plot
        plot_rss(Path(png), [_label_and_path(spec) for spec in files.split(",")])
        return
    args.abuses = args.abuses.split(",")
    if not set(args.abuses) <= set(ABUSES):
        parser.error(f"--abuses: choose from {', '.join(ABUSES)}")
    if args.users < 1 or args.abusers < 0 or args.minutes <= 0:
        parser.error("--users must be >= 1, --abusers >= 0 and --minutes positive")
    output = Path(args.output)
    if output.exists():
        parser.error(f"{output} exists: a soak is one run; move it away or pick --output")
    clips = spoken_questions()
    with contextlib.ExitStack() as stack:
        if args.url:
            url, pid = args.url, args.server_pid
        else:
            url, pid = stack.enter_context(started_server(args))
        asyncio.run(soak(url, pid, args, clips))
    print(json.dumps(summarize(output), indent=2))


@contextlib.contextmanager
def started_server(args: argparse.Namespace) -> Iterator[tuple[str, int]]:
    """`voice-livemind serve` on a free port, with room for every user and abuser (the session
    cap is not what is measured); stopped with SIGTERM, as a service manager does."""
    options = [
        "--max-sessions", str(args.users + args.abusers + 1),
        "--max-answer-tokens", str(args.max_answer_tokens),
    ]  # fmt: skip
    with serve_process(options, Path(args.server_log), stop_signal=signal.SIGTERM) as server:
        yield server.ws_url, server.process.pid


if __name__ == "__main__":
    main()
