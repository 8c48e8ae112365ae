"""Paired comparison of two modes answered on the same questions: LiveMind against the baseline.

Each question answered in both modes is one pair. The accuracy difference gets a 95% interval
from a bootstrap over questions (pairs resampled together, fixed seed, so the numbers repeat)
and an exact McNemar test on the discordant pairs; latencies are compared as ratios of means
and of medians. Letter shares show whether a mode chooses or collapses onto one letter.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class PairedAccuracy:
    """Accuracy of modes a and b on the same n questions, and a - b with its 95% interval."""

    n: int
    accuracy_a: float
    accuracy_b: float
    difference: float  # accuracy_a - accuracy_b
    ci_low: float
    ci_high: float
    only_a_correct: int  # discordant pairs: what McNemar's test weighs
    only_b_correct: int
    mcnemar_p: float  # exact two-sided


def mcnemar_exact_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: the binomial test of the discordant pairs at 1/2."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_accuracy(
    correct_a: Sequence[bool],
    correct_b: Sequence[bool],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> PairedAccuracy:
    """Compare two modes' correctness on the same questions (item i of each is one question)."""
    if len(correct_a) != len(correct_b):
        raise ValueError(f"unpaired: {len(correct_a)} answers against {len(correct_b)}")
    if not correct_a:
        raise ValueError("no questions answered in both modes")
    a = np.asarray(correct_a, dtype=float)
    b = np.asarray(correct_b, dtype=float)
    n = len(a)
    rows = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    differences = (a[rows] - b[rows]).mean(axis=1)
    low, high = np.percentile(differences, [2.5, 97.5])
    only_a = int(np.sum((a == 1) & (b == 0)))
    only_b = int(np.sum((a == 0) & (b == 1)))
    return PairedAccuracy(
        n=n,
        accuracy_a=float(a.mean()),
        accuracy_b=float(b.mean()),
        difference=float(a.mean() - b.mean()),
        ci_low=float(low),
        ci_high=float(high),
        only_a_correct=only_a,
        only_b_correct=only_b,
        mcnemar_p=mcnemar_exact_p(only_a, only_b),
    )


def latency_ratios(latency_a: Sequence[float], latency_b: Sequence[float]) -> dict[str, float]:
    """Mode a's latency over mode b's: ratio of the means and ratio of the medians."""
    if not latency_a or not latency_b:
        raise ValueError("no latencies to compare")
    return {
        "mean_ratio": float(np.mean(latency_a) / np.mean(latency_b)),
        "median_ratio": float(np.median(latency_a) / np.median(latency_b)),
    }


def letter_shares(letters: Sequence[str | None], labels: Sequence[str]) -> dict[str, float]:
    """Each label's share of `letters` (None: no letter), in label order."""
    counts = Counter(letters)
    total = len(letters)
    shares = {label: counts[label] / total if total else 0.0 for label in labels}
    if counts[None]:
        shares["none"] = counts[None] / total
    return shares


def compare_modes(
    records: Sequence[dict[str, Any]], mode_a: str = "livemind", mode_b: str = "baseline"
) -> dict[str, Any] | None:
    """The paired comparison of one file's two modes, or None without shared questions.

    Records with an error count as wrong (they are in `n`) but leave the latency ratios, as
    in the run table; `dropped` counts them.
    """
    by_mode: dict[str, dict[str, dict[str, Any]]] = {mode_a: {}, mode_b: {}}
    for record in records:
        if record["mode"] in by_mode:
            by_mode[record["mode"]][record["id"]] = record
    ids = [i for i in by_mode[mode_a] if i in by_mode[mode_b]]
    if not ids:
        return None
    a = [by_mode[mode_a][i] for i in ids]
    b = [by_mode[mode_b][i] for i in ids]
    accuracy = paired_accuracy(
        [r["correct"] and not r["error"] for r in a], [r["correct"] and not r["error"] for r in b]
    )
    timed = [
        (x["latency_s"], y["latency_s"])
        for x, y in zip(a, b, strict=True)
        if x["latency_s"] is not None and y["latency_s"] is not None
    ]
    labels = sorted({r["answer"] for r in a} | {r["predicted"] for r in a + b if r["predicted"]})
    summary: dict[str, Any] = {
        "mode_a": mode_a,
        "mode_b": mode_b,
        **asdict(accuracy),
        "dropped_a": sum(1 for r in a if r["error"]),
        "dropped_b": sum(1 for r in b if r["error"]),
        **(latency_ratios(*zip(*timed, strict=True)) if timed else {}),
        "token_limit_a": sum(1 for r in a if r.get("finish_reason") == "length"),
        "token_limit_b": sum(1 for r in b if r.get("finish_reason") == "length"),
        "letter_extracted_a": sum(1 for r in a if r.get("letter_extracted")),
        "letter_extracted_b": sum(1 for r in b if r.get("letter_extracted")),
        "letters_truth": letter_shares([r["answer"] for r in a], labels),
        "letters_a": letter_shares([r["predicted"] for r in a], labels),
        "letters_b": letter_shares([r["predicted"] for r in b], labels),
    }
    return summary
