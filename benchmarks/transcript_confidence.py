"""Calibrate the "please repeat" check: Whisper's word confidence on clean and on bad input.

Clean input is spoken MMLU questions (sampled with `--seed` from `--questions`, read as the
spoken benchmark reads them) plus the short latency-benchmark questions, read by both voices
(piper's neural joe voice and espeak-ng), and a few short conversational turns read by piper
("short"). Bad input is what the assistant should refuse to answer, yet Whisper still writes
words for:
- reversed: a piper question played backwards (speech-like sound, no words);
- babble: two piper questions spoken at once, at the same level;
- noise: a piper question under white noise at `--snr-db` (the speech barely audible).

Each clip goes through the streaming recogniser (the pipeline's, with its default settings,
fed `--chunk-ms` at a time as fast as it goes); every `UtteranceEnded` is one decision. Per
utterance the script records the committed words' probabilities and the two candidate
summaries (`voice_livemind.asr.confidence`: the mean word probability, the share of words
below 0.5). The clips are split in two halves by index: a threshold is chosen on the even
ones, and the refusal rates are reported on both halves (the odd one held out) for the
strictest rule that passes every clean piper utterance of the even half and for fixed
`--candidates`.

Usage: python benchmarks/transcript_confidence.py [--clips 20] [--seed 7]
           [--clip-results FILE.jsonl] [--results FILE.md] [--analyse-only]
`--clip-results` keeps every decoded clip, so a rerun (or an interrupted run) only analyses.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from asr_streaming import LEAD_S, TAIL_S, dataset_questions, replay  # benchmarks/, beside this

from voice_livemind.asr import (
    RecognizerConfig,
    StreamingRecognizer,
    WhisperDecoder,
    load_whisper,
)
from voice_livemind.asr.confidence import LOW_PROBABILITY, transcript_confidence
from voice_livemind.asr.wer import WordErrors, word_errors
from voice_livemind.audio.speech_samples import BENCH_QUESTIONS, synthesize, with_silence
from voice_livemind.voice.repeat import RepeatConfig

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "data" / "mmlu_test.jsonl"
KINDS = ("piper", "espeak", "reversed", "babble", "noise")  # each read from the same questions
CLEAN = ("piper", "espeak", "short")
# Short turns, read by piper: a conversation is not all long questions, and a few words give
# the mean little to average over.
SHORT_PHRASES = [
    "Yes.",
    "No, thank you.",
    "What time is it?",
    "Tell me a joke.",
    "How far away is the moon?",
    "Stop.",
    "Can you say that again?",
    "What is the capital of France?",
    "Why is the sky blue?",
    "Thanks, that helps.",
]
REPORTED = (*KINDS, "short")
SUMMARIES = ("mean", "share_low")  # the candidates compared (see `asr.confidence`)


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio.astype(np.float64))))) or 1e-9


def clip_audio(kind: str, texts: list[str], i: int, snr_db: float) -> np.ndarray:
    """The speech of clip `i` of `kind` (no surrounding silence)."""
    if kind == "short":
        return synthesize(SHORT_PHRASES[i], voice="piper")
    text = texts[i]
    if kind in CLEAN:
        return synthesize(text, voice=kind)
    speech = synthesize(text, voice="piper")
    if kind == "reversed":
        return speech[::-1].copy()
    if kind == "babble":
        other = synthesize(texts[(i + 1) % len(texts)], voice="piper")
        other = other * (rms(speech) / rms(other))
        n = max(len(speech), len(other))
        mixed = np.zeros(n, dtype=np.float32)
        mixed[: len(speech)] += speech
        mixed[: len(other)] += other
        return np.clip(mixed / 1.5, -1.0, 1.0).astype(np.float32)
    if kind == "noise":
        rng = np.random.default_rng(i)
        level = rms(speech) / 10 ** (snr_db / 20)
        noisy = speech + rng.normal(0.0, level, len(speech))
        return np.clip(noisy, -1.0, 1.0).astype(np.float32)
    raise ValueError(f"unknown clip kind {kind!r}")


def decode_clip(model, audio: np.ndarray, chunk_ms: int) -> list[dict]:
    """The utterances the streaming recogniser makes of `audio`: text and word probabilities."""
    config = RecognizerConfig()
    recognizer = StreamingRecognizer(WhisperDecoder(model, config.decoder), config)
    utterances, probabilities = [], []
    for _wall, _due, events in replay(
        recognizer, with_silence(audio, LEAD_S, TAIL_S), chunk_ms, True
    ):
        for event in events:
            if event.type == "words_committed":
                probabilities.extend(word[3] for word in event.words)
            elif event.type == "utterance_ended":
                utterances.append({"text": event.text, "probabilities": probabilities})
                probabilities = []
    return utterances


def run(args: argparse.Namespace, done: dict[tuple[str, int], dict]) -> None:
    texts = dataset_questions(str(args.questions), args.clips, args.seed) + BENCH_QUESTIONS
    model = load_whisper(None)
    plan = [(kind, i, text) for i, text in enumerate(texts) for kind in KINDS]
    plan += [("short", i, text) for i, text in enumerate(SHORT_PHRASES)]
    with open(args.clip_results, "a", encoding="utf-8") as out:
        for kind, i, text in plan:
            if (kind, i) in done:
                continue
            started = time.perf_counter()
            audio = clip_audio(kind, texts, i, args.snr_db)
            utterances = decode_clip(model, audio, args.chunk_ms)
            transcript = " ".join(u["text"] for u in utterances)
            row = {
                "kind": kind,
                "index": i,
                "reference": text,
                "transcript": transcript,
                "wer": word_errors(text, transcript).rate if kind in CLEAN else None,
                "utterances": utterances,
                "seconds": round(time.perf_counter() - started, 2),
            }
            done[(kind, i)] = row
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(f"{kind:8} {i:2} {row['seconds']:5.1f}s {transcript[:70]!r}", file=sys.stderr)


def utterance_rows(rows: list[dict]) -> list[dict]:
    """One row per utterance with its candidate summaries; `held_out`: an odd clip index."""
    out = []
    for row in rows:
        for u in row["utterances"]:
            c = transcript_confidence(u["probabilities"])
            out.append(
                {
                    "kind": row["kind"],
                    "held_out": row["index"] % 2 == 1,
                    "words": c.words,
                    "mean": c.mean_probability,
                    "share_low": c.low_share,
                }
            )
    return out


Rule = tuple[str, float, int]  # (summary, threshold, fewest words an utterance is judged at)


def refused(rows: list[dict], rule: Rule) -> int:
    """Utterances a rule refuses: ("mean", t, n) refuses a mean word probability below t,
    ("share_low", t, n) a share of uncertain words above t; either only at n words or more
    (`RepeatConfig.min_words`)."""
    summary, threshold, min_words = rule
    judged = [r for r in rows if r["words"] >= min_words]
    if summary == "mean":
        return sum(r["mean"] < threshold for r in judged)
    return sum(r["share_low"] > threshold for r in judged)


def choose(rows: list[dict], summary: str, max_clean_refused: int, min_words: int) -> Rule:
    """The strictest rule refusing at most `max_clean_refused` clean piper utterances."""
    clean = [r for r in rows if r["kind"] == "piper"]
    grid = [round(x * 0.01, 2) for x in range(0, 101)]
    ok = [t for t in grid if refused(clean, (summary, t, min_words)) <= max_clean_refused]
    return summary, max(ok) if summary == "mean" else min(ok), min_words


def quantiles(values: list[float]) -> str:
    if not values:
        return "-"
    p10 = (
        statistics.quantiles(values, n=10, method="inclusive")[0] if len(values) > 1 else values[0]
    )
    return f"{min(values):.2f} / {p10:.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def wer_of(rows: list[dict]) -> str:
    """Corpus WER of the transcripts against the question read (for babble: the first voice)."""
    if not rows:
        return "-"
    total = sum((word_errors(r["reference"], r["transcript"]) for r in rows), WordErrors(0, 0))
    return f"{total.rate:.2f}"


def rule_text(rule: Rule) -> str:
    summary, t, min_words = rule
    text = f"mean < {t:.2f}" if summary == "mean" else f"share < {LOW_PROBABILITY} above {t:.2f}"
    return text + (f", {min_words}+ words" if min_words > 1 else ", any length")


def refusal_row(label: str, rule: Rule, utts: list[dict]) -> str:
    cells = []
    for half in (False, True):
        rows = [u for u in utts if u["held_out"] is half]
        counts = []
        for kind in REPORTED:
            k = [u for u in rows if u["kind"] == kind]
            counts.append(f"{refused(k, rule)}/{len(k)}")
        cells.append(" · ".join(counts))
    return f"| {label} | {rule_text(rule)} | {cells[0]} | {cells[1]} |"


def report(rows: list[dict], args: argparse.Namespace) -> str:
    utts = utterance_rows(rows)
    lines = [
        f"Clips per kind: {len({r['index'] for r in rows})} ({args.clips} MMLU questions from "
        f"{args.questions.name}, seed {args.seed}, + {len(BENCH_QUESTIONS)} short questions); "
        f"utterances: {len(utts)}; noise at {args.snr_db:g} dB SNR; tiny.en int8, 2 threads, "
        f"streaming recogniser defaults, {args.chunk_ms} ms chunks fed as fast as possible.",
        "",
        "| input | utterances | mean word probability: min / p10 / median / max "
        "| share of words < 0.5: median / max | WER |",
        "|---|---|---|---|---|",
    ]
    for kind in REPORTED:
        k = [u for u in utts if u["kind"] == kind]
        low = [u["share_low"] for u in k] or [0.0]
        clips = [r for r in rows if r["kind"] == kind]
        lines.append(
            f"| {kind} | {len(k)} | {quantiles([u['mean'] for u in k])} | "
            f"{statistics.median(low):.2f} / {max(low):.2f} | "
            f"{wer_of(clips) if kind != 'reversed' else '-'} |"
        )
    calibration = [u for u in utts if not u["held_out"]]
    rules = [
        (
            f"strictest passing all but {args.max_clean_refused} piper (even)",
            choose(calibration, s, args.max_clean_refused, args.min_words),
        )
        for s in SUMMARIES
    ]
    rules += [(f"fixed {t:.2f}", ("mean", t, args.min_words)) for t in args.candidates]
    default = RepeatConfig()
    rules += [("the default, judging every length", ("mean", default.min_confidence, 1))]
    lines += [
        "",
        "Refused utterances (" + " · ".join(REPORTED) + "):",
        "",
        "| rule | refuses | calibration half (even clips) | held-out half (odd clips) |",
        "|---|---|---|---|",
        *(refusal_row(label, rule, utts) for label, rule in rules),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20, help="MMLU questions per kind")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--questions", type=Path, default=DATASET)
    parser.add_argument("--snr-db", type=float, default=-5.0)
    parser.add_argument("--chunk-ms", type=int, default=1000)
    parser.add_argument("--max-clean-refused", type=int, default=0)
    parser.add_argument("--min-words", type=int, default=RepeatConfig().min_words)
    parser.add_argument(
        "--candidates",
        type=float,
        nargs="*",
        default=[0.5, 0.55, 0.6, 0.65, 0.7],
        help="mean-probability thresholds to report on both halves",
    )
    parser.add_argument("--analyse-only", action="store_true", help="decode nothing new")
    parser.add_argument("--clip-results", type=Path, default=Path("transcript_confidence.jsonl"))
    parser.add_argument("--results", type=Path, help="append the tables to this file")
    args = parser.parse_args()
    done: dict[tuple[str, int], dict] = {}
    if args.clip_results.exists():
        for line in args.clip_results.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            done[(row["kind"], row["index"])] = row
    if not args.analyse_only:
        run(args, done)
    text = report(list(done.values()), args)
    print(text)
    if args.results:
        with open(args.results, "a", encoding="utf-8") as out:
            out.write(text + "\n")


if __name__ == "__main__":
    main()
