"""The text-replay table (`bench` without --audio): one summary row per run.

Each run becomes one row: accuracy, latency from end of input (mean, p50, p90), time to first
token, and the ratio of LiveMind's latency to the baseline's from the same file.

Records with an `error` count in `n` as unparsed and incorrect, but every timing and token
statistic leaves them out: a failed call's numbers measure the failure, not the method.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .runs import BASELINE, Run, fmt, mean, pct, ratio, share


def summarize(records: list[dict[str, Any]], file: str | None = None) -> dict[str, Any]:
    """One run's summary row; the baseline ratios stay None (see `add_baseline_ratios`)."""
    first = records[0]
    meta = first["run"]
    ok = [r for r in records if r["error"] is None]
    latencies = [r["latency_s"] for r in ok if r["latency_s"] is not None]
    p50, p90 = np.percentile(latencies, [50, 90]) if latencies else (None, None)

    def mean_of(key: str) -> float | None:
        return mean(r[key] for r in ok)

    n = len(records)
    return {
        "file": file,
        "mode": first["mode"],
        "format": meta["format"],
        "granularity": meta["granularity"],
        "options": meta["options"],
        "timing": meta["timing"],
        "model": meta["model"],
        "answer_model": meta.get("answer_model"),
        "n": n,
        "errors": n - len(ok),
        "accuracy": sum(1 for r in ok if r["correct"]) / n,
        "unparsed": sum(1 for r in records if r["error"] is not None or not r["parsed"]),
        # The reply hit its token limit; it stated no letter, so a continuation asked for one.
        "token_limit": sum(1 for r in records if r.get("finish_reason") == "length"),
        "letter_extracted": sum(1 for r in records if r.get("letter_extracted")),
        "latency_mean_s": mean(latencies),
        "latency_p50_s": None if p50 is None else float(p50),
        "latency_p90_s": None if p90 is None else float(p90),
        "ttft_mean_s": mean_of("ttft_s"),
        "answer_letter_mean_s": mean_of("answer_letter_s"),
        "overhead_mean_s": mean_of("overhead_s"),
        "total_model_time_mean_s": mean_of("total_model_time_s"),
        "tokens_after_end_mean": mean_of("tokens_after_end"),
        "tokens_before_end_mean": mean_of("tokens_before_end"),
        "inferences_mean": mean_of("inferences"),
        "valid_action_share": share([r["valid_actions"] for r in ok], [r["actions"] for r in ok]),
        # Engines that do not report cache hits write null: those records say nothing either way.
        "cached_share": share(
            [r["cached_prompt_tokens"] for r in ok], [r["prompt_tokens"] for r in ok]
        ),
        "latency_mean_ratio": None,
        "latency_p50_ratio": None,
    }


def add_baseline_ratios(summaries: list[dict[str, Any]]) -> None:
    """Fill each non-baseline row's ratios against the baseline run of the same file, options
    and timing (same format and granularity preferred, should a file hold several)."""
    for s in summaries:
        if s["mode"] == BASELINE:
            continue
        candidates = [
            b
            for b in summaries
            if b["mode"] == BASELINE
            and (b["file"], b["options"], b["timing"]) == (s["file"], s["options"], s["timing"])
        ]
        candidates.sort(
            key=lambda b: (b["format"], b["granularity"]) != (s["format"], s["granularity"])
        )
        if candidates:
            base = candidates[0]
            s["latency_mean_ratio"] = ratio(s["latency_mean_s"], base["latency_mean_s"])
            s["latency_p50_ratio"] = ratio(s["latency_p50_s"], base["latency_p50_s"])


def summarize_runs(runs: list[Run]) -> list[dict[str, Any]]:
    summaries = [summarize(run.records, run.file) for run in runs]
    add_baseline_ratios(summaries)
    return summaries


# (header, how a summary row shows in that column); the table is one row per run.
_COLUMNS = (
    ("mode", lambda s: s["mode"]),
    # A baseline run has no prompt format or segmenting; bench still records the defaults.
    ("format", lambda s: "-" if s["mode"] == BASELINE else s["format"]),
    ("gran.", lambda s: "-" if s["mode"] == BASELINE else s["granularity"]),
    ("options", lambda s: s["options"]),
    ("timing", lambda s: s["timing"]),
    ("n", lambda s: str(s["n"])),
    ("err", lambda s: str(s["errors"])),
    ("acc", lambda s: fmt(100 * s["accuracy"], ".1f", "%")),
    ("unparsed", lambda s: str(s["unparsed"])),
    ("limit", lambda s: str(s["token_limit"])),
    ("asked", lambda s: str(s["letter_extracted"])),
    ("mean s", lambda s: fmt(s["latency_mean_s"])),
    ("p50 s", lambda s: fmt(s["latency_p50_s"])),
    ("p90 s", lambda s: fmt(s["latency_p90_s"])),
    ("TTFT s", lambda s: fmt(s["ttft_mean_s"])),
    ("letter s", lambda s: fmt(s["answer_letter_mean_s"])),
    ("wait s", lambda s: fmt(s["overhead_mean_s"])),
    ("model s", lambda s: fmt(s["total_model_time_mean_s"], ".1f")),
    ("tok after", lambda s: fmt(s["tokens_after_end_mean"], ".1f")),
    ("valid act.", lambda s: fmt(pct(s["valid_action_share"]), ".0f", "%")),
    ("mean/base", lambda s: fmt(s["latency_mean_ratio"], ".2f", "x")),
    ("p50/base", lambda s: fmt(s["latency_p50_ratio"], ".2f", "x")),
)


def print_tables(summaries: list[dict[str, Any]], console: Console) -> None:
    """One table per file, latencies in seconds from the end of input."""
    files = list(dict.fromkeys(s["file"] for s in summaries))
    for file in files:
        rows = [s for s in summaries if s["file"] == file]
        models = sorted({str(s[k]) for s in rows for k in ("model", "answer_model") if s[k]})
        # Text, not str: rich would read "[...]" in a file or model name as markup.
        table = Table(
            title=Text(file),
            caption=Text(f"model: {', '.join(models)}; latency = end of input -> complete answer"),
        )
        for i, (header, _) in enumerate(_COLUMNS):
            table.add_column(header, justify="left" if i < 5 else "right")
        for s in rows:
            table.add_row(*(Text(show(s)) for _, show in _COLUMNS))
        console.print(table)


def print_paired(comparisons: list[dict[str, Any]], console: Console) -> None:
    """Per file: both modes on the same questions, the accuracy difference with its interval,
    latency ratios, and each mode's letters against the truth's."""
    table = Table(
        title="LiveMind vs baseline on the same questions",
        caption="diff = LiveMind - baseline accuracy, 95% bootstrap interval over questions; "
        "p = exact McNemar",
    )
    for header in ("file", "n", "LiveMind", "baseline", "diff", "95% CI", "p", "mean", "median"):
        table.add_column(header, justify="left" if header == "file" else "right")
    for c in comparisons:
        table.add_row(
            Text(c["file"]),
            str(c["n"]),
            fmt(100 * c["accuracy_a"], ".1f", "%"),
            fmt(100 * c["accuracy_b"], ".1f", "%"),
            fmt(100 * c["difference"], "+.1f", " pt"),
            f"[{100 * c['ci_low']:+.1f}, {100 * c['ci_high']:+.1f}]",
            fmt(c["mcnemar_p"], ".3f"),
            fmt(c.get("mean_ratio"), ".2f", "x"),
            fmt(c.get("median_ratio"), ".2f", "x"),
        )
    console.print(table)
    letters = Table(title="Letter shares: predictions against the truth (same questions)")
    letters.add_column("file")
    letters.add_column("")
    labels = list(dict.fromkeys(k for c in comparisons for k in c["letters_truth"]))
    labels += [
        k for c in comparisons for k in ("none",) if "none" in c["letters_a"] | c["letters_b"]
    ][:1]
    for label in labels:
        letters.add_column(label, justify="right")
    for c in comparisons:
        for name, key in (
            ("truth", "letters_truth"),
            ("LiveMind", "letters_a"),
            ("baseline", "letters_b"),
        ):
            shares = c[key]
            letters.add_row(
                Text(c["file"]),
                name,
                *(fmt(pct(shares.get(label, 0.0)), ".0f", "%") for label in labels),
            )
    console.print(letters)
