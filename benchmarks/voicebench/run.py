"""Run the voicebench scenarios of this folder against `voice-livemind serve`.

    python benchmarks/voicebench/run.py                      # starts serve, LiveMind, 2 runs each
    python benchmarks/voicebench/run.py --mode both --runs 4
    python benchmarks/voicebench/run.py --url ws://host:8765/ws   # a server already running
    python benchmarks/voicebench/run.py --synth-only         # just make the WAVs (then `voicebench
                                                             # run scenarios/mmlu.yaml --url ...`)

Each scenario's spoken turns are synthesised from their `text` with piper into `audio/`
(ignored by git; remade when the text changes), the cough by `sounds.cough`. voicebench plays
each scenario into the server over its generic WebSocket wire (`/ws?wire=pcm`, mode chosen by
the start message) on the wall clock and measures everything from the recorded audio: response
latency and time to first audio from the end of the user's turn, barge-in stop time, false
barge-ins, missed responses, WER of the transcripts the server reports.

Results go to `benchmarks/results/voicebench/` (`--out`): `<scenario>_<mode>_run<k>/` with
voicebench's `report.json` and `report.md`, and `summary.json` + `summary.md`: one row per mode
over all runs. A run already on disk is kept (run again to resume; `--overwrite` starts
afresh). Take the benchmark lock for latency figures: `flock /tmp/vl-bench.lock python ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(HERE)]  # this checkout's package, and sounds.py

SCENARIOS = ("barge_in", "noise", "mmlu")  # the quickest first: a cut-short run has them
MODES = ("livemind", "baseline")


def main() -> int:
    args = parse_args()
    for name in args.scenarios:
        synthesize_audio(HERE / "scenarios" / f"{name}.yaml")
    if args.synth_only:
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    modes = MODES if args.mode == "both" else (args.mode,)
    try:
        with serving(args) as url:
            for run in range(1, args.runs + 1):  # runs outermost: a cut-short run has each
                for mode in modes:
                    for name in args.scenarios:
                        asyncio.run(run_one(name, mode, run, url, args))
    except KeyboardInterrupt:
        print("interrupted: run again to resume; the summary covers the finished runs")
        status = 130
    else:
        status = 0
    summary = summarize_all(args.out, modes)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = summary_table(summary)
    (args.out / "summary.md").write_text(table + "\n")
    print(table)
    return status


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="ws://.../ws of a running server (default: start serve)")
    parser.add_argument("--mode", choices=[*MODES, "both"], default="livemind")
    parser.add_argument("--runs", type=int, default=2, help="sessions per scenario and mode")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/voicebench")
    parser.add_argument("--overwrite", action="store_true", help="run again what is on disk")
    parser.add_argument("--synth-only", action="store_true", help="make the WAVs and stop")
    parser.add_argument(
        "--serve-arg", action="append", default=[], help="passed to serve (repeatable)"
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


# -- audio -----------------------------------------------------------------------------------


def synthesize_audio(scenario_path: Path) -> None:
    """Make each turn's WAV file that is missing or was made from another text."""
    from sounds import SAMPLE_RATE, cough, piper_speech
    from voicebench.audio import write_wav

    turns = yaml.safe_load(scenario_path.read_text())["turns"]
    for turn in turns:
        file = turn["audio"].get("file")
        if file is None:
            continue
        wav = (scenario_path.parent / file).resolve()
        text = turn.get("text") or wav.stem  # a sound without words: its name says which
        stamp = wav.with_suffix(".txt")
        if wav.is_file() and stamp.is_file() and stamp.read_text() == text:
            continue
        wav.parent.mkdir(parents=True, exist_ok=True)
        audio = cough() if wav.stem.startswith("cough") else piper_speech(text)
        write_wav(wav, audio, SAMPLE_RATE)
        stamp.write_text(text)
        print(f"synthesised {wav.relative_to(ROOT)} ({len(audio) / SAMPLE_RATE:.1f} s)")


# -- the server ------------------------------------------------------------------------------


@contextlib.contextmanager
def serving(args: argparse.Namespace) -> Iterator[str]:
    if args.url:
        yield args.url
        return
    log = args.out / "serve.log"
    command = [sys.executable, "-m", "voice_livemind.cli", "serve", "--port", "0", *args.serve_arg]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    with open(log, "w") as out:  # its own process group: the engine's workers go with it
        server = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 900
        while not (found := re.search(r"serving on (http://\S+)/", log.read_text())):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"serve did not come up; its log ends:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        print(f"serve is up: {found.group(1)} (log: {log})")
        yield found.group(1).replace("http://", "ws://") + "/ws"
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# -- runs ------------------------------------------------------------------------------------


async def run_one(name: str, mode: str, run: int, url: str, args: argparse.Namespace) -> None:
    from voicebench.bench import run_benchmark
    from voicebench.report import render_console, render_markdown, write_json
    from voicebench.scenario import load_scenario

    folder = args.out / f"{name}_{mode}_run{run}"
    if (folder / "report.json").is_file() and not args.overwrite:
        print(f"{folder.name}: on disk, kept")
        return
    scenario = load_scenario(HERE / "scenarios" / f"{name}.yaml")
    options = {
        "url": f"{url}?wire=pcm",
        "start_message": {"type": "start", "mode": mode, "wire": "pcm"},
        "connect_timeout_s": 30.0,
    }
    # Ctrl-C: voicebench's adapter may swallow the cancellation while it closes (and return a
    # cut-short session as if whole): the flag, not the exception, says the run was stopped.
    benchmark = asyncio.ensure_future(run_benchmark(scenario, adapter="websocket", options=options))
    stopped = False

    def stop() -> None:
        nonlocal stopped
        stopped = True
        benchmark.cancel()

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop)
    try:
        result = await benchmark
    except asyncio.CancelledError:
        pass
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    if stopped:
        raise KeyboardInterrupt
    folder.mkdir(parents=True, exist_ok=True)
    report = result.report
    # voicebench counts an answer that ends near a noise's onset as a false barge-in; whether
    # the server really stopped (sent `clear`) during each ignored sound is recorded beside it.
    report["clears_during_ignored_turns"] = clears_during_ignored(result.records[0])
    write_json(report, folder / "report.json")
    (folder / "report.md").write_text(render_markdown(report, result.sessions))
    print(render_console(report, result.sessions), end="\n\n")


def clears_during_ignored(record: Any) -> dict[str, int]:
    """For each `expect: ignore` turn: `clear` messages from its start to the next turn."""
    windows = record.windows
    counts = {}
    for k, window in enumerate(windows):
        if window.turn.expect != "ignore":
            continue
        end = windows[k + 1].start if k + 1 < len(windows) else float("inf")
        counts[window.turn.id] = sum(window.start <= t < end for t in record.clears)
    return counts


# -- summary ---------------------------------------------------------------------------------


def summarize_all(out: Path, modes: tuple[str, ...]) -> dict[str, Any]:
    """voicebench's summary over every session on disk, per mode."""
    from voicebench.metrics import SessionMetrics, TurnResult, summarize

    summary: dict[str, Any] = {}
    for mode in modes:
        sessions, stopped_by_sound = [], 0
        for path in sorted(out.glob(f"*_{mode}_run*/report.json")):
            report = json.loads(path.read_text())
            clears = report.get("clears_during_ignored_turns", {})
            stopped_by_sound += sum(1 for n in clears.values() if n)
            for s in report["sessions"]:
                fields = {k: v for k, v in s.items() if not k.endswith(("turns", "segments"))}
                turns = [TurnResult(**t) for t in s["turns"]]
                sessions.append(
                    SessionMetrics(turns=turns, user_segments=[], agent_segments=[], **fields)
                )
        if sessions:
            summary[mode] = {
                **summarize(sessions),
                "sounds_that_stopped_the_agent": stopped_by_sound,
            }
    return summary


def summary_table(summary: dict[str, Any]) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    header = (
        "mode", "sessions", "response p50 / p90 ms", "first audio p50 / p90 ms",
        "barge-in stop p50 / max ms", "barge-ins stopped", "false barge-ins (clear sent)",
        "missed responses", "mean WER",
    )  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for mode, s in summary.items():
        lat, ttfa, stop = s["response_latency_ms"], s["ttfa_ms"], s["barge_in_stop_ms"]
        rate, wer = s["barge_in_success_rate"], s["mean_wer"]
        stopped = "-" if rate is None else f"{round(rate * s['barge_in_turns'])}"
        cells = (
            mode,
            str(s["sessions"]),
            f"{ms(lat['p50'])} / {ms(lat['p90'])}",
            f"{ms(ttfa['p50'])} / {ms(ttfa['p90'])}",
            f"{ms(stop['p50'])} / {ms(stop['max'])}",
            f"{stopped} of {s['barge_in_turns']}",
            f"{s['false_barge_ins']} of {s['noise_turns']} ({s['sounds_that_stopped_the_agent']})",
            str(s["missed_responses"]),
            "-" if wer is None else f"{wer:.3f}",
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
