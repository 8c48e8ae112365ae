"""The accuracy-latency figure: one point per run (mode, model, format), the trade-off at a
glance. Accuracy carries its 95% interval (Wilson score), latency is the run's mean."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from matplotlib.ticker import PercentFormatter

from .plots import figure, legend_below, run_labels


def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion `correct`/`n`."""
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def plot_accuracy_latency(summaries: list[dict[str, Any]], path: Path) -> Path:
    fig = figure()
    ax = fig.add_subplot()
    labels = run_labels(summaries)
    for s, label in zip(summaries, labels, strict=True):
        if s["latency_mean_s"] is None:
            continue
        low, high = wilson_interval(round(s["accuracy"] * s["n"]), s["n"])
        models = " -> ".join(
            dict.fromkeys(Path(str(m)).name for m in (s["model"], s["answer_model"]) if m)
        )
        marker = "s" if s["mode"] == "baseline" else "o"
        ax.errorbar(
            s["latency_mean_s"],
            s["accuracy"],
            yerr=[[s["accuracy"] - low], [high - s["accuracy"]]],
            fmt=marker,
            capsize=4,
            label=f"{label} ({models}, n={s['n']})",
        )
    ax.set_xscale("log")
    ax.set_xlabel("mean latency, end of input -> complete answer (s, log scale)")
    ax.set_ylabel("accuracy (95% interval)")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.grid(True, which="both", alpha=0.3)
    legend_below(fig, ax)
    fig.savefig(path)
    return path
