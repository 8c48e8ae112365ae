"""Endpointing benchmark: when does each policy end a turn that has natural mid-turn pauses?

The turns come from `voice_livemind.bench.pause_set`: held-out MMLU questions (shuffled with
`--seed`, not the benchmarks' 42) read by a neural voice (piper, joe), multiple-choice ones with
pauses of 0.3-1.2 s after the question, after "Options." and between options, open ones with
pauses between sentences and after a mid-sentence "um". The true end of every turn is known.

Each turn is heard once by the real parts, and what they saw in every pause is stored
(`observations.jsonl`, one line per turn; a rerun skips turns already there):
- the VAD (Silero, as the recogniser uses it): where each pause began and how long it lasted;
- the streaming recogniser (Whisper tiny.en, its own utterance end set far off so the turn
  stays one utterance): the text committed `--probe-s` into the pause (its pause commit);
- Smart Turn v3.2 on the last 8 s of audio up to that moment, with its compute time.
Policies are then replayed over the observations (pure logic):
- silence only at 0.3 / 0.6 / 1.0 s;
- Smart Turn alone: P(complete) >= 0.5 at the probe ends the turn then, else `--full-s`;
- the transcript alone: a finished question or every option read, with nothing objecting, ends
  the turn at the probe, else `--full-s`;
- fused (`voice_livemind.turn.fusion`): acoustic + transcript, with LiveMind's state absent,
  an oracle state (the question is complete exactly at the true end, answer ready), and a wrong,
  eager state (it says "complete, answer ready" in every pause).
A decision that needs the probe is taken no earlier than probe + Smart Turn's compute time: as
measured in the run, and again at `--idle-compute-s` a call (0.1 s: 60-110 ms were measured on
this CPU when it was idle, see shared/FIELD-NOTES.md), since a loaded machine inflates it.

Reported, one table: false cut-offs (turns ended at a mid-turn pause), and the time from the
true end of speech to the decision (mean, p90) over the turns not cut off.

Usage: flock /tmp/vl-bench.lock python benchmarks/endpointing.py
           [--mc 16] [--open 8] [--seed 2024] [--out benchmarks/results/endpointing]
           [--report-only]  (the table over the turns observed so far)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's package, not another installed one
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from voice_livemind.asr import RecognizerConfig, StreamingRecognizer, WhisperDecoder  # noqa: E402
from voice_livemind.asr.models import load_whisper  # noqa: E402
from voice_livemind.asr.vad import SAMPLE_RATE, StreamingVad, VadConfig  # noqa: E402
from voice_livemind.bench.datasets import load_questions  # noqa: E402
from voice_livemind.bench.pause_set import PausedTurn, build_set, save_meta  # noqa: E402
from voice_livemind.turn.acoustic import SmartTurn  # noqa: E402
from voice_livemind.turn.fusion import (  # noqa: E402
    EndpointingConfig,
    TurnEvidence,
    required_silence,
)
from voice_livemind.turn.livemind_state import LiveMindState  # noqa: E402
from voice_livemind.turn.transcript import transcript_signals  # noqa: E402

QUESTIONS = ROOT.parent / "shared" / "data" / "mmlu_test.jsonl"
_STEP = 512  # samples fed at a time: one VAD window
_END_TOLERANCE_S = 0.3  # a pause beginning this close to the true end is the end


# -- observing one turn ------------------------------------------------------------------------


def observe(
    turn: PausedTurn, recognizer: StreamingRecognizer, smart_turn: SmartTurn, probe_s: float
) -> dict:
    """Feed the turn through the VAD and the recogniser; probe Smart Turn in every pause."""
    vad = StreamingVad(VadConfig(min_silence_s=60.0))  # pauses only; the turn never ends here
    texts: list[tuple[float, str]] = []  # (stream time, committed text) after each step
    silence_at: list[float] = []  # trailing silence after each step
    for i in range(0, len(turn.audio), _STEP):
        chunk = turn.audio[i : i + _STEP]
        vad.feed(chunk)
        recognizer.feed(chunk)
        silence_at.append(vad.trailing_silence_s)
        texts.append((recognizer.stream_t, recognizer.committed_text))
    recognizer.finish()
    pauses = []
    step_s = _STEP / SAMPLE_RATE
    for k, s in enumerate(silence_at):
        ends_here = k + 1 == len(silence_at) or silence_at[k + 1] < s
        if s > 0 and ends_here:
            t_end = (k + 1) * step_s
            pauses.append({"start": round(t_end - s, 4), "length": round(s, 4)})
    for pause in pauses:
        if pause["length"] < probe_s:
            continue
        probe_t = pause["start"] + probe_s
        # The text as of the first step at or after the probe (the pause commit lands there).
        text = next((x for t, x in texts if t >= probe_t - 1e-6), texts[-1][1])
        audio = turn.audio[: round(probe_t * SAMPLE_RATE)]
        prediction = smart_turn.predict(audio)
        pause.update(text=text, p=round(prediction.p_complete, 4), compute_s=prediction.compute_s)
    return {
        **turn.meta(),
        "transcript": recognizer.committed_text,
        "probe_s": probe_s,
        "vad_pauses": pauses,
    }


# -- policies ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    cut_off: bool  # ended at a mid-turn pause
    latency_s: float | None  # true end -> decision, when not cut off
    at_kind: str | None = None  # the annotated kind of the pause it cut at


Policy = Callable[[dict, bool], float | None]  # (pause, is the true end) -> when it ends, or None


def silence_only(seconds: float) -> Policy:
    return lambda pause, final: seconds


def smart_turn_alone(full_s: float, compute_s: float | None, threshold: float = 0.5) -> Policy:
    """`compute_s`: Smart Turn's time per call; None: as measured in each pause."""

    def decide(pause: dict, final: bool) -> float | None:
        if "p" not in pause:
            return full_s
        if pause["p"] >= threshold:
            return pause["probe_t"] + (pause["compute_s"] if compute_s is None else compute_s)
        return full_s

    return decide


def transcript_alone(config: EndpointingConfig) -> Policy:
    """The text alone: the fusion with neither audio model nor LiveMind, and a vouching text
    trusted at once (at the pause commit) rather than after the medium silence."""

    def decide(pause: dict, final: bool) -> float | None:
        if "text" not in pause:
            return config.full_silence_s
        decision = required_silence(
            TurnEvidence(transcript=transcript_signals(pause["text"])), config
        )
        if decision.silence_s < config.full_silence_s:
            return pause["probe_t"]
        return config.full_silence_s

    return decide


def fused(config: EndpointingConfig, state: str, compute_s: float | None) -> Policy:
    """`state`: "absent", "oracle" (complete exactly at the true end) or "eager" (always)."""

    def decide(pause: dict, final: bool) -> float | None:
        if "p" not in pause:  # shorter than the probe: nothing known yet but the silence
            return config.full_silence_s
        livemind = {
            "absent": None,
            "oracle": LiveMindState(question_complete=final, answer_ready=final),
            "eager": LiveMindState(question_complete=True, answer_ready=True),
        }[state]
        evidence = TurnEvidence(
            p_complete=pause["p"], transcript=transcript_signals(pause["text"]), livemind=livemind
        )
        needed = required_silence(evidence, config).silence_s
        spent = pause["compute_s"] if compute_s is None else compute_s
        return max(needed, pause["probe_t"] + spent)

    return decide


def decide_turn(observation: dict, policy: Policy) -> Decision:
    end = observation["speech_end_t"]
    annotated = observation["pauses"]
    for pause in observation["vad_pauses"]:
        pause = {**pause, "probe_t": observation["probe_s"]}
        final = pause["start"] >= end - _END_TOLERANCE_S
        needed = policy(pause, final)
        if needed is None or pause["length"] < needed:
            continue
        decided_t = pause["start"] + needed
        if final:
            return Decision(False, decided_t - end)
        kind = next(
            (a["kind"] for a in annotated if abs(a["t"] - pause["start"]) < _END_TOLERANCE_S),
            "natural",
        )
        return Decision(True, None, kind)
    return Decision(False, None)  # never decided (the tail was too short): reported as missing


def summarise(decisions: list[Decision]) -> dict:
    latencies = [d.latency_s for d in decisions if d.latency_s is not None]
    cuts = [d for d in decisions if d.cut_off]
    kinds: dict[str, int] = {}
    for d in cuts:
        kinds[d.at_kind or "?"] = kinds.get(d.at_kind or "?", 0) + 1
    return {
        "turns": len(decisions),
        "false_cutoffs": len(cuts),
        "false_cutoff_rate": len(cuts) / len(decisions) if decisions else float("nan"),
        "cut_at": kinds,
        "undecided": sum(1 for d in decisions if not d.cut_off and d.latency_s is None),
        "latency_mean_s": float(np.mean(latencies)) if latencies else float("nan"),
        "latency_p90_s": float(np.percentile(latencies, 90)) if latencies else float("nan"),
    }


def policies(full_s: float, compute_s: float | None = None) -> dict[str, Policy]:
    config = EndpointingConfig(full_silence_s=full_s)
    return {
        "silence 0.3 s": silence_only(0.3),
        "silence 0.6 s": silence_only(0.6),
        "silence 1.0 s": silence_only(1.0),
        f"Smart Turn alone (else {full_s:g} s)": smart_turn_alone(full_s, compute_s),
        f"transcript alone (else {full_s:g} s)": transcript_alone(config),
        "fused, LiveMind state absent": fused(config, "absent", compute_s),
        "fused, LiveMind state oracle": fused(config, "oracle", compute_s),
        "fused, LiveMind state eager (wrong)": fused(config, "eager", compute_s),
        # One signal alone trusted less: the medium silence as long as the 1.0 s silence-only.
        "fused, state absent, medium 1.0 s": fused(
            replace(config, medium_silence_s=1.0), "absent", compute_s
        ),
    }


def table(observations: list[dict], full_s: float, idle_compute_s: float) -> tuple[str, dict]:
    """One row per policy: cut-offs and latency with Smart Turn's compute time as measured in
    this run (it delays a decision that needs the model, and the machine was loaded), and both
    again with `idle_compute_s` per call instead (the model's time on an idle CPU)."""
    rows, figures = [], {}
    measured, no_compute = policies(full_s, None), policies(full_s, idle_compute_s)
    for name, policy in measured.items():
        s = summarise([decide_turn(o, policy) for o in observations])
        bare = summarise([decide_turn(o, no_compute[name]) for o in observations])
        figures[name] = {**s, f"with_{idle_compute_s}_s_compute": bare}
        where = ", ".join(f"{k} {v}" for k, v in sorted(s["cut_at"].items())) or "-"
        rows.append(
            f"| {name} | {s['false_cutoffs']}/{s['turns']} ({100 * s['false_cutoff_rate']:.0f}%) "
            f"| {s['latency_mean_s']:.2f} | {s['latency_p90_s']:.2f} "
            f"| {bare['false_cutoffs']}/{bare['turns']} "
            f"| {bare['latency_mean_s']:.2f} / {bare['latency_p90_s']:.2f} | {where} |"
        )
    head = (
        "| policy | false cut-offs | true end -> decision mean (s) | p90 (s) "
        f"| at {idle_compute_s:g} s a call: cut-offs | mean / p90 (s) | cut at (measured) |\n"
        "|---|---|---|---|---|---|---|"
    )
    return "\n".join([head, *rows]), figures


# -- main --------------------------------------------------------------------------------------


def observe_set(args: argparse.Namespace, done: dict[str, dict], path: Path) -> list[dict]:
    """Synthesise the set and observe the turns not in `done` (appending them to `path`)."""
    questions = load_questions(args.questions)
    started = time.perf_counter()
    turns = build_set(questions, n_multiple_choice=args.mc, n_open=args.open, seed=args.seed)
    save_meta(turns, path.parent / "set.jsonl")
    print(f"{len(turns)} turns synthesised in {time.perf_counter() - started:.1f} s", flush=True)
    whisper = load_whisper()
    smart_turn = SmartTurn()
    # The recogniser's own end of utterance is set far off: the turn stays one utterance and
    # its committed text grows across every pause, as the endpointing decision sees it.
    config = RecognizerConfig(vad=VadConfig(min_silence_s=30.0))
    with path.open("a") as sink:
        for i, turn in enumerate(turns):
            if turn.id in done:
                continue
            began = time.perf_counter()
            recognizer = StreamingRecognizer(WhisperDecoder(whisper, config.decoder), config)
            row = observe(turn, recognizer, smart_turn, args.probe_s)
            sink.write(json.dumps(row) + "\n")
            sink.flush()
            done[turn.id] = row
            print(
                f"[{i + 1}/{len(turns)}] {turn.id} {turn.kind}: {len(row['vad_pauses'])} pauses, "
                f"{time.perf_counter() - began:.1f} s",
                flush=True,
            )
    return [done[t.id] for t in turns]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mc", type=int, default=16, help="multiple-choice turns")
    parser.add_argument("--open", type=int, default=8, help="open-question turns")
    parser.add_argument("--seed", type=int, default=2024, help="question and pause seed (not 42)")
    parser.add_argument("--questions", default=str(QUESTIONS))
    parser.add_argument("--probe-s", type=float, default=0.25, help="into a pause: text + model")
    parser.add_argument("--full-s", type=float, default=1.5, help="the longest silence needed")
    parser.add_argument(
        "--idle-compute-s", type=float, default=0.1, help="Smart Turn's time a call, idle CPU"
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/endpointing"))
    parser.add_argument(
        "--report-only", action="store_true", help="table over the turns observed so far"
    )
    args = parser.parse_args(argv)
    if args.seed == 42:
        parser.error("--seed 42 picks the benchmarks' own questions: use another seed")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    observations_path = out / "observations.jsonl"

    done: dict[str, dict] = {}
    if observations_path.is_file():
        for line in observations_path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                if row.get("probe_s") == args.probe_s:
                    done[row["id"]] = row
    if args.report_only:
        observations = list(done.values())
    else:
        observations = observe_set(args, done, observations_path)
    text, figures = table(observations, args.full_s, args.idle_compute_s)
    computes = [p["compute_s"] for o in observations for p in o["vad_pauses"] if "compute_s" in p]
    n_pauses = sum(len(o["pauses"]) for o in observations)
    n_mc = sum(1 for o in observations if o["kind"] == "multiple_choice")
    footer = (
        f"\n\n{len(observations)} turns ({n_mc} multiple-choice, {len(observations) - n_mc} open), "
        f"{n_pauses} annotated mid-turn pauses; probe {args.probe_s} s into each pause; "
        f"Smart Turn compute mean {np.mean(computes):.3f} s, p90 "
        f"{np.percentile(computes, 90):.3f} s over {len(computes)} calls; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores."
    )
    (out / "table.md").write_text(text + footer + "\n")
    (out / "summary.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(text + footer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
