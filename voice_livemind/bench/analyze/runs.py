"""Benchmark result files read into runs, and the small numeric helpers every table shares.

A file holds one record per answered question, possibly from two modes (`--mode both`). Records
are grouped into runs by (file, mode, format, granularity, options, timing).
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets import iter_jsonl

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
    """Split one file's records into runs, in order of first appearance. A question answered
    twice in one run (two writers on one file, a copy pasted in) would count twice: its first
    result is kept, the others are dropped and reported on stderr."""
    runs: dict[tuple[str, ...], Run] = {}
    seen: set[tuple[Any, ...]] = set()
    duplicates: dict[tuple[str, ...], list[str]] = {}
    for r in records:
        meta = r["run"]
        # The record's own mode, not run.mode: `--mode both` may label the run "both".
        key = (r["mode"], meta["format"], meta["granularity"], meta["options"], meta["timing"])
        if (*key, r["id"]) in seen:
            duplicates.setdefault(key, []).append(str(r["id"]))
            continue
        seen.add((*key, r["id"]))
        if key not in runs:
            runs[key] = Run(str(path), *key)
        runs[key].records.append(r)
    for key, ids in duplicates.items():
        shown = ", ".join(sorted(set(ids))[:5]) + (", ..." if len(set(ids)) > 5 else "")
        print(
            f"{path}: {len(ids)} duplicate result(s) in the {key[0]} run dropped "
            f"(first kept): {shown}",
            file=sys.stderr,
        )
    return list(runs.values())


def load_runs(paths: Iterable[str | Path]) -> list[Run]:
    return [run for path in paths for run in group_runs(path, load_records(path))]


def mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def share(numerators: list[float | None], denominators: list[float | None]) -> float | None:
    pairs = [(a, b) for a, b in zip(numerators, denominators, strict=True) if a is not None]
    total = sum(b or 0 for _, b in pairs)
    return sum(a for a, _ in pairs) / total if total else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def fmt(value: float | None, spec: str = ".2f", suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:{spec}}{suffix}"


def pct(share: float | None) -> float | None:
    return None if share is None else 100 * share


def rounded(summary: dict[str, Any]) -> dict[str, Any]:
    # Six decimals (microseconds, millionths of a share) hide float noise like 1.2320000000000002.
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in summary.items()}


def write_csv(summaries: list[dict[str, Any]], path: str | Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(summaries[0]))
        writer.writeheader()
        writer.writerows(rounded(s) for s in summaries)
