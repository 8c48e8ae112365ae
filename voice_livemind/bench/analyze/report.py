"""`voice-livemind analyze`: tables (or JSON), CSV and plots from benchmark results files.

Spoken runs (`bench --audio`) get the spoken table, whose latencies run from the end of speech;
text runs get the text-replay table, whose latencies run from the end of input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from .paired import compare_modes
from .runs import Run, load_runs, rounded, write_csv
from .spoken import is_spoken, print_spoken_tables, summarize_spoken_runs
from .text import print_paired, print_tables, summarize_runs


def paired_comparisons(runs: list[Run]) -> list[dict[str, Any]]:
    """For each file with both modes: LiveMind against the baseline on the same questions."""
    comparisons = []
    for file in dict.fromkeys(run.file for run in runs):
        records = [r for run in runs if run.file == file for r in run.records]
        comparison = compare_modes(records)
        if comparison is not None:
            comparisons.append({"file": file, **comparison})
    return comparisons


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

    runs = load_runs(paths)
    # A spoken run's latency runs from the end of speech, a text run's from the end of input:
    # each kind gets its own table so that no column means two things.
    text_runs = [run for run in runs if not is_spoken(run)]
    summaries = summarize_runs(text_runs)
    comparisons = paired_comparisons(text_runs)
    spoken = summarize_spoken_runs(runs)
    # With --json stdout carries the JSON object alone; notes go to stderr.
    notes = sys.stderr if as_json else sys.stdout
    if as_json:
        out: dict[str, Any] = {"runs": [rounded(s) for s in summaries]}
        if comparisons:
            out["paired"] = comparisons
        if spoken:
            out["spoken"] = [rounded(s) for s in spoken]
        print(json.dumps(out, indent=2))
    else:
        # Piped output would otherwise wrap at 80 columns and the table needs ~150.
        console = Console(highlight=False)
        if not console.is_terminal:
            console = Console(highlight=False, width=200)
        if summaries:
            print_tables(summaries, console)
        if comparisons:
            print_paired(comparisons, console)
        if spoken:
            print_spoken_tables(spoken, console)
    if csv_path:
        if summaries:
            write_csv(summaries, csv_path)
            print(f"wrote {csv_path}", file=notes)
        if spoken:
            spoken_csv = Path(csv_path).with_name(Path(csv_path).stem + "_spoken.csv")
            write_csv(spoken, spoken_csv)
            print(f"wrote {spoken_csv}", file=notes)
    if plot_dir:
        from .plots import write_plots  # matplotlib is slow to import; only load it when asked
        from .plots_accuracy import plot_accuracy_latency

        written = []
        if summaries:
            written = write_plots(text_runs, summaries, plot_dir, timeline_id=timeline_id)
            written.append(
                str(plot_accuracy_latency(summaries, Path(plot_dir) / "accuracy_latency.png"))
            )
        if spoken:
            from .plots_spoken import write_spoken_plots

            written += write_spoken_plots(runs, spoken, plot_dir)
        for path in written:
            print(f"wrote {path}", file=notes)
    return 0
