"""`voice-livemind analyze --plot DIR`: PNG figures of benchmark runs.

Figures are drawn with matplotlib's Agg canvas directly (no pyplot), so nothing needs a display
and no global backend state is touched. Each figure is 1200x600 px.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, PercentFormatter

from .runs import BASELINE, Run

_SIZE = (12, 6)
_DPI = 100
_COLORS = {
    "input": "#9ecae1",
    "inference": "#3182bd",
    "aborted": "#bdbdbd",
    "answer": "#31a354",
    "first_token": "#d62728",
    "letter": "#ff7f0e",
}


def figure() -> Figure:
    fig = Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _seconds_label(value: float, _pos: object = None) -> str:
    return f"{value:g}"


def _minor_seconds_label(value: float, _pos: object = None) -> str:
    # Label 2x, 3x and 5x each decade only: every minor tick labelled is unreadable.
    leading = round(value / 10 ** math.floor(math.log10(value))) if value > 0 else 0
    return f"{value:g}" if leading in (2, 3, 5) else ""


def legend_below(fig: Figure, ax: Any) -> None:
    """Run legend under the axes (inside, it hides data), as many columns as the labels allow."""
    handles, labels = ax.get_legend_handles_labels()
    widest = max((len(label) for label in labels), default=1)
    ncols = max(1, min(len(labels), 150 // (widest + 8)))  # ~150 small characters per line
    fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize="small")


def run_labels(summaries: list[dict[str, Any]]) -> list[str]:
    """Short legend labels: mode and format, plus whatever else tells the runs apart."""
    varies = {k: len({s[k] for s in summaries}) > 1 for k in ("file", "options", "timing")}
    labels = []
    for s in summaries:
        parts = [
            BASELINE if s["mode"] == BASELINE else f"{s['mode']} {s['format']}/{s['granularity']}"
        ]
        if varies["options"]:
            parts.append(f"options {s['options']}")
        if varies["timing"]:
            parts.append(s["timing"])
        if varies["file"]:
            parts.append(f"[{Path(s['file']).stem}]")
        labels.append(" ".join(parts))
    # Runs that differ only in something not shown still need distinct labels.
    return [f"{lab} #{i + 1}" if labels.count(lab) > 1 else lab for i, lab in enumerate(labels)]


def plot_latency_cdf(runs: list[Run], summaries: list[dict[str, Any]], path: Path) -> Path:
    fig = figure()
    ax = fig.add_subplot()
    lo, hi = math.inf, 0.0
    for run, s, label in zip(runs, summaries, run_labels(summaries), strict=True):
        # A log axis cannot show 0 s; such latencies only come from broken timing anyway.
        lat = sorted(
            r["latency_s"]
            for r in run.records
            if r["error"] is None and r["latency_s"] is not None and r["latency_s"] > 0
        )
        if not lat:
            continue
        lo, hi = min(lo, lat[0]), max(hi, lat[-1])
        share = np.arange(len(lat) + 1) / len(lat)  # from 0 at the fastest answer
        median = f"median {s['latency_p50_s']:.2f} s"
        style = "--" if run.mode == BASELINE else "-"
        ax.step([lat[0], *lat], share, where="post", ls=style, lw=2, label=f"{label} ({median})")
    ax.set_xscale("log")
    if hi > 0:  # room either side so the decade labels around the data show
        ax.set_xlim(lo / 1.3, hi * 1.3)
    ax.xaxis.set_major_formatter(FuncFormatter(_seconds_label))
    ax.xaxis.set_minor_formatter(FuncFormatter(_minor_seconds_label))
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
    ax.grid(True, which="both", alpha=0.3)
    ax.set_xlabel("latency: end of input → complete answer (s, log scale)")
    ax.set_ylabel("questions answered within that time")
    ax.set_title("Latency distribution (empirical CDF)")
    legend_below(fig, ax)
    fig.savefig(path)
    return path


def _category_accuracy(records: list[dict[str, Any]], category: str) -> float:
    rows = [r for r in records if r["category"] == category]
    if not rows:
        return float("nan")  # no bar: the run never saw this category
    return sum(1 for r in rows if r["error"] is None and r["correct"]) / len(rows)


def plot_accuracy_by_category(runs: list[Run], summaries: list[dict[str, Any]], path: Path) -> Path:
    categories = sorted({r["category"] for run in runs for r in run.records})
    fig = figure()
    ax = fig.add_subplot()
    x = np.arange(len(categories))
    width = 0.8 / len(runs)
    for i, (run, s, label) in enumerate(zip(runs, summaries, run_labels(summaries), strict=True)):
        acc = [_category_accuracy(run.records, c) for c in categories]
        offset = (i - (len(runs) - 1) / 2) * width
        hatch = "//" if run.mode == BASELINE else None
        bars = ax.bar(
            x + offset, acc, width, hatch=hatch, label=f"{label} (all: {s['accuracy']:.0%})"
        )
        if len(categories) * len(runs) <= 40:  # else too crowded; a label tells 0% from no bar
            shown = ["" if math.isnan(a) else f"{a:.0%}" for a in acc]
            ax.bar_label(bars, labels=shown, fontsize="small", padding=2)
    counts = [max(sum(r["category"] == c for r in run.records) for run in runs) for c in categories]
    ax.set_xticks(x, [f"{c}\n(n={n})" for c, n in zip(categories, counts, strict=True)])
    if len(categories) > 6:
        ax.tick_params(axis="x", labelrotation=30)
    ax.set_ylim(0, 1.08)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_ylabel("accuracy (errors count as wrong)")
    ax.set_title("Accuracy by category")
    legend_below(fig, ax)
    fig.savefig(path)
    return path


@dataclass
class _Timeline:
    """One question's timeline, in seconds since input started."""

    label: str
    input_end: float
    segments: list[float]
    inferences: list[tuple[float, float, bool]]  # start, end, aborted
    answer: tuple[float, float] | None
    first_token: float | None
    letter: float | None


def _parse_timeline(record: dict[str, Any], label: str) -> _Timeline:
    first: dict[str, float] = {}
    segments, spans = [], []
    open_calls: dict[Any, float] = {}
    for event in record["timeline"]:
        kind, t = event.get("type"), event.get("t")
        if t is None:
            continue
        first.setdefault(kind, t)
        # Calls pair by call_id when bench wrote it, else in order (LiveMind runs one at a time).
        call = event.get("call_id", "?")
        if kind == "segment":
            segments.append(t)
        elif kind == "inference_started":
            open_calls[call] = t
        elif kind in ("inference_done", "inference_aborted") and call in open_calls:
            spans.append((open_calls.pop(call), t, kind == "inference_aborted"))
    input_end = first.get("input_ended", record.get("input_s") or 0.0)
    end = first.get("answer_done", input_end)
    spans += [(start, end, False) for start in open_calls.values()]  # never closed: ran on
    answer = (first["answer_started"], end) if "answer_started" in first else None
    letter = record["answer_letter_s"]
    return _Timeline(
        label=label,
        input_end=input_end,
        segments=segments,
        inferences=spans,
        answer=answer,
        first_token=first.get("answer_first_token"),
        letter=None if letter is None else input_end + letter,
    )


def _draw(ax: Any, tl: _Timeline, rows: dict[str, float], shift: float) -> None:
    """Draw one timeline on `ax`, times moved by `shift`, into lanes at the y values in rows."""
    h = 0.6
    y = rows["input"]
    ax.broken_barh([(shift, tl.input_end)], (y - h / 2, h), color=_COLORS["input"])
    ax.vlines([t + shift for t in tl.segments], y - h / 2, y + h / 2, color="#08519c", lw=1)
    if "inference" in rows:
        y = rows["inference"]
        for start, end, aborted in tl.inferences:
            ax.broken_barh(
                [(start + shift, end - start)],
                (y - h / 2, h),
                facecolor=_COLORS["aborted" if aborted else "inference"],
                edgecolor="black",
                linewidth=0.5,
                hatch="xx" if aborted else None,
            )
    y = rows["answer"]
    if tl.answer:
        start, end = tl.answer
        ax.broken_barh([(start + shift, end - start)], (y - h / 2, h), color=_COLORS["answer"])
    if tl.first_token is not None:
        ax.plot(tl.first_token + shift, y, "v", color=_COLORS["first_token"], ms=9)
    if tl.letter is not None:
        ax.plot(tl.letter + shift, y, "*", color=_COLORS["letter"], ms=12)


def _lanes(timelines: list[_Timeline]) -> list[dict[str, float]]:
    """y positions, top down: input, inference calls (LiveMind only) and answer per record."""
    lanes, y = [], 0.0
    for i, tl in enumerate(timelines):
        names = ["input", "answer"] if tl.label == BASELINE else ["input", "inference", "answer"]
        lanes.append({name: y - j for j, name in enumerate(names)})
        y -= len(names) + (0.5 if i == 0 else 0)  # a gap between the two records
    return lanes


_LANE_TEXT = {"input": "input", "inference": "inference calls", "answer": "answer"}
_LEGEND = [
    Patch(color=_COLORS["input"], label="input arriving"),
    Line2D([], [], color="#08519c", lw=1, label="segment committed"),
    Patch(facecolor=_COLORS["inference"], edgecolor="black", label="inference call"),
    Patch(facecolor=_COLORS["aborted"], edgecolor="black", hatch="xx", label="aborted inference"),
    Patch(color=_COLORS["answer"], label="final answer"),
    Line2D([], [], marker="v", ls="", color=_COLORS["first_token"], label="first answer token"),
    Line2D([], [], marker="*", ls="", ms=10, color=_COLORS["letter"], label="answer letter"),
]


def plot_timeline(record: dict[str, Any], baseline: dict[str, Any] | None, path: Path) -> Path:
    """Left: the whole question; right: zoomed on the end of input, where latency is measured."""
    timelines = [_parse_timeline(record, record["mode"])]
    if baseline is not None:
        timelines.append(_parse_timeline(baseline, BASELINE))
    lanes = _lanes(timelines)
    fig = figure()
    whole, zoom = fig.subplots(1, 2, sharey=True, width_ratios=[2, 1])
    for tl, rows in zip(timelines, lanes, strict=True):
        _draw(whole, tl, rows, 0.0)
        _draw(zoom, tl, rows, -tl.input_end)
    ticks = [(y, f"{tl.label}: {_LANE_TEXT[n]}") for tl, r in zip(timelines, lanes, strict=True)
             for n, y in r.items()]  # fmt: skip
    whole.set_yticks([y for y, _ in ticks], [text for _, text in ticks])
    # The answer takes seconds after minutes of typing: only the zoom shows it at a usable scale.
    after = max((tl.answer[1] - tl.input_end for tl in timelines if tl.answer), default=1.0)
    zoom.set_xlim(-max(0.5, 0.3 * after), max(after, 0.1) * 1.08)
    zoom.axvline(0, color="black", linestyle="--", linewidth=1)
    whole.set_xlabel("seconds since input started")
    zoom.set_xlabel("seconds after end of input")
    whole.set_title("whole question")
    zoom.set_title("around the end of input")
    for ax in (whole, zoom):
        ax.grid(True, axis="x", alpha=0.3)
    latencies = ", ".join(
        f"{r['mode']} {r['latency_s']:.2f} s"
        for r in (record, baseline)
        if r is not None and r["latency_s"] is not None
    )
    aborted = f" (+{record['aborted']} aborted)" if record.get("aborted") else ""
    fig.suptitle(
        f"Question {record['id']} ({record['category']}): {record['inferences']} inferences "
        f"while typing{aborted}; latency {latencies}"
    )
    fig.legend(handles=_LEGEND, loc="outside lower center", ncols=len(_LEGEND), fontsize="small")
    fig.savefig(path)
    return path


def pick_timeline(
    runs: list[Run], question_id: str | None = None
) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    """The LiveMind record with the most inferences (or the one with `question_id`), and the
    baseline record of the same question, preferring one from the same file and options.
    None when every record failed; ValueError when `question_id` has no error-free record."""
    chosen, chosen_run = None, None
    for wanted_mode in (False, True):  # LiveMind first; a baseline-only set still gets a figure
        for run in runs:
            if (run.mode == BASELINE) != wanted_mode:
                continue
            for r in run.records:
                if question_id is not None and r["id"] != question_id:
                    continue
                if r["error"] is None and (
                    chosen is None or r["inferences"] > chosen["inferences"]
                ):
                    chosen, chosen_run = r, run
        if chosen is not None:
            break
    if chosen is None or chosen_run is None:
        if question_id is None:
            return None
        raise ValueError(f"no error-free record with id {question_id!r} to draw a timeline for")
    if chosen_run.mode == BASELINE:
        return chosen, None
    same = (chosen_run.file, chosen_run.options, chosen_run.timing)
    partners = [
        (run, r)
        for run in runs
        if run.mode == BASELINE
        for r in run.records
        if r["id"] == chosen["id"]
    ]
    partners.sort(key=lambda p: (p[0].file, p[0].options, p[0].timing) != same)
    return chosen, (partners[0][1] if partners else None)


def write_plots(
    runs: list[Run],
    summaries: list[dict[str, Any]],
    out_dir: str | Path,
    timeline_id: str | None = None,
) -> list[str]:
    """Write the CDF, accuracy and timeline figures into out_dir (created); return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    picked = pick_timeline(runs, timeline_id)  # before drawing: a bad id writes nothing
    written = [
        plot_latency_cdf(runs, summaries, out / "latency_cdf.png"),
        plot_accuracy_by_category(runs, summaries, out / "accuracy_by_category.png"),
    ]
    if picked is not None:
        record, baseline = picked
        safe_id = re.sub(r"[^A-Za-z0-9._-]+", "_", str(record["id"]))
        written.append(plot_timeline(record, baseline, out / f"timeline_{safe_id}.png"))
    return [str(p) for p in written]
