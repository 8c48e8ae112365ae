"""`voice-livemind analyze`: summarise benchmark results files (JSON Lines from `bench`).

A file holds one record per answered question, possibly from two modes (`--mode both`). Records
are grouped into runs by (file, mode, format, granularity, options, timing); each run becomes one
summary row: accuracy, latency from end of input (mean, p50, p90), time to first token, and the
ratio of LiveMind's latency to the baseline's from the same file.

Records with an `error` count in `n` as unparsed and incorrect, but every timing and token
statistic leaves them out: a failed call's numbers measure the failure, not the method.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .datasets import iter_jsonl

# Numbers or null in every record.
_NUMBER_KEYS = (
    "latency_s", "ttft_s", "answer_letter_s", "overhead_s", "total_model_time_s",
    "tokens_before_end", "tokens_after_end", "prompt_tokens", "cached_prompt_tokens",
    "inferences", "valid_actions", "actions",
)  # fmt: skip
# What analyze and plots read; the other keys bench writes (answer_text, ...) are optional here.
REQUIRED_KEYS = (
    "run",
    "id",
    "category",
    "mode",
    "correct",
    "parsed",
    *_NUMBER_KEYS,
    "timeline",
    "error",
)
REQUIRED_RUN_KEYS = ("format", "granularity", "options", "timing", "model")
BASELINE = "baseline"


@dataclass
class Run:
    """The records of one run of one file, in file order."""

    file: str
    mode: str
    format: str
    granularity: str
    options: str
    timing: str
    records: list[dict[str, Any]] = field(default_factory=list)


def _check_record(record: dict[str, Any], where: str) -> None:
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if not missing:
        run = record["run"]
        if not isinstance(run, dict):
            raise ValueError(f"{where}: 'run' is not an object")
        missing = [f"run.{k}" for k in REQUIRED_RUN_KEYS if k not in run]
    if missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")
    # These name the run a record belongs to: grouping needs them hashable.
    names = {"mode": record["mode"], **{f"run.{k}": run[k] for k in REQUIRED_RUN_KEYS}}
    for name, value in names.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{where}: '{name}' is not a string: {value!r}")
    for key in _NUMBER_KEYS:
        value = record[key]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"{where}: '{key}' is not a number: {value!r}")
    timeline = record["timeline"]
    if not isinstance(timeline, list) or not all(isinstance(e, dict) for e in timeline):
        raise ValueError(f"{where}: 'timeline' is not a list of event objects")


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """Read one results file; ValueError naming file and line for anything malformed."""
    records = []
    try:
        for where, record in iter_jsonl(path, where="{path}:{line}", invalid="invalid JSON"):
            _check_record(record, where)
            records.append(record)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read ({exc})") from None
    if not records:
        raise ValueError(f"{path}: no records")
    return records


def group_runs(path: str | Path, records: Iterable[dict[str, Any]]) -> list[Run]:
    """Split one file's records into runs, in order of first appearance."""
    runs: dict[tuple[str, ...], Run] = {}
    for r in records:
        meta = r["run"]
        # The record's own mode, not run.mode: `--mode both` may label the run "both".
        key = (r["mode"], meta["format"], meta["granularity"], meta["options"], meta["timing"])
        if key not in runs:
            runs[key] = Run(str(path), *key)
        runs[key].records.append(r)
    return list(runs.values())


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _share(numerators: list[float | None], denominators: list[float | None]) -> float | None:
    pairs = [(a, b) for a, b in zip(numerators, denominators, strict=True) if a is not None]
    total = sum(b or 0 for _, b in pairs)
    return sum(a for a, _ in pairs) / total if total else None


def summarize(records: list[dict[str, Any]], file: str | None = None) -> dict[str, Any]:
    """One run's summary row; the baseline ratios stay None (see `add_baseline_ratios`)."""
    first = records[0]
    meta = first["run"]
    ok = [r for r in records if r["error"] is None]
    latencies = [r["latency_s"] for r in ok if r["latency_s"] is not None]
    p50, p90 = np.percentile(latencies, [50, 90]) if latencies else (None, None)

    def mean_of(key: str) -> float | None:
        return _mean(r[key] for r in ok)

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
        "latency_mean_s": _mean(latencies),
        "latency_p50_s": None if p50 is None else float(p50),
        "latency_p90_s": None if p90 is None else float(p90),
        "ttft_mean_s": mean_of("ttft_s"),
        "answer_letter_mean_s": mean_of("answer_letter_s"),
        "overhead_mean_s": mean_of("overhead_s"),
        "total_model_time_mean_s": mean_of("total_model_time_s"),
        "tokens_after_end_mean": mean_of("tokens_after_end"),
        "tokens_before_end_mean": mean_of("tokens_before_end"),
        "inferences_mean": mean_of("inferences"),
        "valid_action_share": _share([r["valid_actions"] for r in ok], [r["actions"] for r in ok]),
        # Engines that do not report cache hits write null: those records say nothing either way.
        "cached_share": _share(
            [r["cached_prompt_tokens"] for r in ok], [r["prompt_tokens"] for r in ok]
        ),
        "latency_mean_ratio": None,
        "latency_p50_ratio": None,
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


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
            s["latency_mean_ratio"] = _ratio(s["latency_mean_s"], base["latency_mean_s"])
            s["latency_p50_ratio"] = _ratio(s["latency_p50_s"], base["latency_p50_s"])


def load_runs(paths: Iterable[str | Path]) -> list[Run]:
    return [run for path in paths for run in group_runs(path, load_records(path))]


def summarize_runs(runs: list[Run]) -> list[dict[str, Any]]:
    summaries = [summarize(run.records, run.file) for run in runs]
    add_baseline_ratios(summaries)
    return summaries


def _fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:{spec}}{suffix}"


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
    ("acc", lambda s: _fmt(100 * s["accuracy"], ".1f", "%")),
    ("unparsed", lambda s: str(s["unparsed"])),
    ("mean s", lambda s: _fmt(s["latency_mean_s"])),
    ("p50 s", lambda s: _fmt(s["latency_p50_s"])),
    ("p90 s", lambda s: _fmt(s["latency_p90_s"])),
    ("TTFT s", lambda s: _fmt(s["ttft_mean_s"])),
    ("letter s", lambda s: _fmt(s["answer_letter_mean_s"])),
    ("wait s", lambda s: _fmt(s["overhead_mean_s"])),
    ("model s", lambda s: _fmt(s["total_model_time_mean_s"], ".1f")),
    ("tok after", lambda s: _fmt(s["tokens_after_end_mean"], ".1f")),
    ("valid act.", lambda s: _fmt(_pct(s["valid_action_share"]), ".0f", "%")),
    ("mean/base", lambda s: _fmt(s["latency_mean_ratio"], ".2f", "x")),
    ("p50/base", lambda s: _fmt(s["latency_p50_ratio"], ".2f", "x")),
)


def _pct(share: float | None) -> float | None:
    return None if share is None else 100 * share


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


def _rounded(summary: dict[str, Any]) -> dict[str, Any]:
    # Six decimals (microseconds, millionths of a share) hide float noise like 1.2320000000000002.
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in summary.items()}


def write_csv(summaries: list[dict[str, Any]], path: str | Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(summaries[0]))
        writer.writeheader()
        writer.writerows(_rounded(s) for s in summaries)


def run_analyze(
    paths: list[str],
    csv_path: str | None,
    as_json: bool,
    plot_dir: str | None,
    timeline_id: str | None = None,
) -> int:
    """The `analyze` command: tables (or JSON) on stdout, optional CSV and plots."""
    if not paths:
        raise ValueError("no results files given")
    from .analyze_spoken import print_spoken_tables, summarize_spoken_runs

    runs = load_runs(paths)
    summaries = summarize_runs(runs)
    spoken = summarize_spoken_runs(runs)  # spoken-benchmark runs (bench --audio) only
    # With --json stdout carries the JSON object alone; notes go to stderr.
    notes = sys.stderr if as_json else sys.stdout
    if as_json:
        out: dict[str, Any] = {"runs": [_rounded(s) for s in summaries]}
        if spoken:
            out["spoken"] = [_rounded(s) for s in spoken]
        print(json.dumps(out, indent=2))
    else:
        # Piped output would otherwise wrap at 80 columns and the table needs ~150.
        console = Console(highlight=False)
        if not console.is_terminal:
            console = Console(highlight=False, width=200)
        print_tables(summaries, console)
        if spoken:
            print_spoken_tables(spoken, console)
    if csv_path:
        write_csv(summaries, csv_path)
        print(f"wrote {csv_path}", file=notes)
        if spoken:
            spoken_csv = Path(csv_path).with_name(Path(csv_path).stem + "_spoken.csv")
            write_csv(spoken, spoken_csv)
            print(f"wrote {spoken_csv}", file=notes)
    if plot_dir:
        from .plots import write_plots  # matplotlib is slow to import; only load it when asked

        written = write_plots(runs, summaries, plot_dir, timeline_id=timeline_id)
        if spoken:
            from .plots_spoken import write_spoken_plots

            written += write_spoken_plots(runs, spoken, plot_dir)
        for path in written:
            print(f"wrote {path}", file=notes)
    return 0
