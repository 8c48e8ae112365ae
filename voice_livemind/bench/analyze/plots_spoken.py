"""PNG figures of spoken-benchmark runs: where the time after the end of speech goes, and the
distributions of the latencies a user feels (drawn like `plots.py`, without pyplot)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import PercentFormatter

from ..spoken_record import STAGES
from .plots import figure, legend_below
from .runs import BASELINE, Run
from .spoken import FIRST_AUDIO, is_spoken

_STAGE_COLORS = {"endpointing": "#9ecae1", "asr": "#6baed6", "llm": "#31a354", "tts": "#fd8d3c"}
_STAGE_LABELS = {
    "endpointing": "endpointing (VAD silence)",
    "asr": "ASR (lag, final decode)",
    "llm": "LLM (to the first sentence)",
    "tts": "TTS (first sentence)",
}


def _label(summary: dict[str, Any], many_files: bool) -> str:
    label = "baseline (CoT)" if summary["mode"] == BASELINE else summary["mode"]
    return f"{label} [{Path(summary['file']).stem}]" if many_files else label


def plot_stage_bars(summaries: list[dict[str, Any]], path: Path) -> Path:
    """Stacked horizontal bars: mean seconds per stage from end of speech to first audio."""
    fig = figure()
    ax = fig.add_subplot()
    many = len({s["file"] for s in summaries}) > 1
    labels = [_label(s, many) for s in summaries]
    y = np.arange(len(summaries))[::-1]
    left = np.zeros(len(summaries))
    for stage in STAGES:
        widths = np.array([s[f"stage_{stage}_mean_s"] or 0.0 for s in summaries])
        ax.barh(y, widths, left=left, color=_STAGE_COLORS[stage], label=_STAGE_LABELS[stage])
        for yi, x0, w, s in zip(y, left, widths, summaries, strict=True):
            share = s[f"stage_{stage}_share"]
            if w > 0.12 and share is not None:
                ax.text(x0 + w / 2, yi, f"{w:.2f} s\n{100 * share:.0f}%", ha="center",
                        va="center", fontsize="small")  # fmt: skip
        left += widths
    for yi, total, s in zip(y, left, summaries, strict=True):
        ax.text(total, yi, f"  {total:.2f} s (n={s['n']})", va="center", fontsize="small")
    ax.set_yticks(y, labels)
    ax.set_xlim(0, max(left.max() * 1.2, 0.1) if len(left) else 1)
    ax.set_xlabel("mean seconds from the end of speech to the first spoken audio")
    ax.set_title("Where the time after the end of speech goes")
    ax.grid(True, axis="x", alpha=0.3)
    legend_below(fig, ax)
    fig.savefig(path)
    return path


def plot_spoken_cdfs(runs: list[Run], summaries: list[dict[str, Any]], path: Path) -> Path:
    """Empirical CDFs of end of speech -> first audio and -> answer complete, per run."""
    fig = figure()
    axes = fig.subplots(1, 2, sharey=True)
    many = len({s["file"] for s in summaries}) > 1
    spoken = [run for run in runs if is_spoken(run)]
    keys = ((FIRST_AUDIO, "first spoken audio"), ("speech_end_to_answer_s", "answer complete"))
    for ax, (key, what) in zip(axes, keys, strict=True):
        for run, s in zip(spoken, summaries, strict=True):
            values = sorted(
                r[key] for r in run.records if r["error"] is None and r.get(key) is not None
            )
            if not values:
                continue
            share = np.arange(len(values) + 1) / len(values)
            style = "--" if run.mode == BASELINE else "-"
            label = f"{_label(s, many)} (median {np.median(values):.2f} s)"
            ax.step([values[0], *values], share, where="post", ls=style, lw=2, label=label)
        ax.set_xlabel(f"end of speech → {what} (s)")
        ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small", loc="lower right")
    axes[0].set_ylabel("questions within that time")
    axes[0].yaxis.set_major_formatter(PercentFormatter(1.0))
    axes[0].set_ylim(0, 1.02)
    fig.suptitle("Spoken questions: latency distributions (empirical CDF)")
    fig.savefig(path)
    return path


def write_spoken_plots(
    runs: list[Run], summaries: list[dict[str, Any]], out_dir: str | Path
) -> list[str]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [
        plot_stage_bars(summaries, out / "spoken_stages.png"),
        plot_spoken_cdfs(runs, summaries, out / "spoken_latency_cdf.png"),
    ]
    return [str(p) for p in written]
