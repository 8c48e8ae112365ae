"""`voice-livemind analyze` on spoken-benchmark results (`bench --audio`): what a user feels.

Latencies are from the end of speech. A run's row: accuracy, word error rate of the committed
transcript (corpus WER: all edits over all reference words), end of speech -> first audio
(mean, p50, p90, and the ratio to the baseline of the same file), -> end of utterance
detected, -> first answer token, -> answer complete, each stage's share of the time to first
audio, inferences made before the end of speech, tokens generated after it, and how many
answers prepared during the final pause were kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..spoken_record import STAGES
from .runs import BASELINE, Run, fmt, mean, ratio

FIRST_AUDIO = "speech_end_to_first_audio_s"


def is_spoken(run: Run) -> bool:
    return any(FIRST_AUDIO in r for r in run.records)


def summarize_spoken(run: Run) -> dict[str, Any]:
    records = run.records
    ok = [r for r in records if r["error"] is None]
    first_audio = [r[FIRST_AUDIO] for r in ok if r.get(FIRST_AUDIO) is not None]
    p50, p90 = np.percentile(first_audio, [50, 90]) if first_audio else (None, None)
    scored = [r for r in records if r.get("wer_words")]
    edits, words = sum(r["wer_edits"] for r in scored), sum(r["wer_words"] for r in scored)
    stages = [r["stages_s"] for r in ok if r.get("stages_s")]
    stage_means = {s: mean(st[s] for st in stages) for s in STAGES}
    total = sum(v for v in stage_means.values() if v is not None)

    def mean_of(key: str) -> float | None:
        return mean(r.get(key) for r in ok)

    return {
        "file": run.file,
        "mode": run.mode,
        "n": len(records),
        "errors": len(records) - len(ok),
        "accuracy": sum(1 for r in ok if r["correct"]) / len(records),
        "wer": edits / words if words else None,
        "first_audio_mean_s": mean(first_audio),
        "first_audio_p50_s": None if p50 is None else float(p50),
        "first_audio_p90_s": None if p90 is None else float(p90),
        "utterance_end_mean_s": mean_of("speech_end_to_utterance_end_s"),
        "first_token_mean_s": mean_of("speech_end_to_first_token_s"),
        "answer_mean_s": mean_of("speech_end_to_answer_s"),
        **{f"stage_{s}_mean_s": stage_means[s] for s in STAGES},
        **{f"stage_{s}_share": (stage_means[s] or 0.0) / total if total else None for s in STAGES},
        "inferences_before_speech_end_mean": mean_of("inferences_before_speech_end"),
        "tokens_after_speech_end_mean": mean_of("tokens_after_speech_end"),
        "speculative_answers_kept": sum(1 for r in ok if r.get("speculative_answer")),
        "first_audio_mean_ratio": None,
        "first_audio_p50_ratio": None,
    }


def summarize_spoken_runs(runs: list[Run]) -> list[dict[str, Any]]:
    summaries = [summarize_spoken(run) for run in runs if is_spoken(run)]
    for s in summaries:
        base = next(
            (b for b in summaries if b["mode"] == BASELINE and b["file"] == s["file"]), None
        )
        if s["mode"] != BASELINE and base is not None:
            s["first_audio_mean_ratio"] = ratio(s["first_audio_mean_s"], base["first_audio_mean_s"])
            s["first_audio_p50_ratio"] = ratio(s["first_audio_p50_s"], base["first_audio_p50_s"])
    return summaries


def _pct(value: float | None, spec: str = ".0f") -> str:
    return fmt(None if value is None else 100 * value, spec, "%")


_COLUMNS = (
    ("mode", lambda s: s["mode"]),
    ("n", lambda s: str(s["n"])),
    ("err", lambda s: str(s["errors"])),
    ("acc", lambda s: _pct(s["accuracy"], ".1f")),
    ("WER", lambda s: _pct(s["wer"], ".1f")),
    ("1st audio mean s", lambda s: fmt(s["first_audio_mean_s"])),
    ("p50 s", lambda s: fmt(s["first_audio_p50_s"])),
    ("p90 s", lambda s: fmt(s["first_audio_p90_s"])),
    ("mean/base", lambda s: fmt(s["first_audio_mean_ratio"], ".2f", "x")),
    ("p50/base", lambda s: fmt(s["first_audio_p50_ratio"], ".2f", "x")),
    ("utt. end s", lambda s: fmt(s["utterance_end_mean_s"])),
    ("1st token s", lambda s: fmt(s["first_token_mean_s"])),
    ("answer s", lambda s: fmt(s["answer_mean_s"])),
    *((stage, lambda s, stage=stage: _pct(s[f"stage_{stage}_share"])) for stage in STAGES),
    ("inf. before", lambda s: fmt(s["inferences_before_speech_end_mean"], ".1f")),
    ("tok after", lambda s: fmt(s["tokens_after_speech_end_mean"], ".1f")),
    ("kept spec.", lambda s: str(s["speculative_answers_kept"])),
)


def print_spoken_tables(summaries: list[dict[str, Any]], console: Console) -> None:
    for file in dict.fromkeys(s["file"] for s in summaries):
        table = Table(
            title=Text(f"{file} (spoken)"),
            caption=Text(
                "seconds from the end of speech; stage columns: share of the time to first audio"
            ),
        )
        for i, (header, _) in enumerate(_COLUMNS):
            table.add_column(header, justify="left" if i == 0 else "right")
        for s in summaries:
            if s["file"] == file:
                table.add_row(*(Text(show(s)) for _, show in _COLUMNS))
        console.print(table)
