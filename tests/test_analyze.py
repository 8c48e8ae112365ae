"""`voice-livemind analyze`: summaries, table/JSON/CSV output, malformed input, plots."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from voice_livemind.bench.analyze.plots import pick_timeline
from voice_livemind.bench.analyze.report import run_analyze
from voice_livemind.bench.analyze.runs import load_records, load_runs
from voice_livemind.bench.analyze.text import summarize_runs

SAMPLE = Path(__file__).parent / "data" / "bench_sample.jsonl"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JSON_REQUIRED = (
    "file", "mode", "format", "granularity", "n", "accuracy", "unparsed", "latency_mean_s",
    "latency_p50_s", "latency_p90_s", "ttft_mean_s", "overhead_mean_s", "total_model_time_mean_s",
)  # fmt: skip


def make_record(
    qid: str = "q-1",
    mode: str = "livemind",
    latency: float | None = 1.0,
    *,
    fmt: str = "ua-spi",
    options: str = "at-end",
    timing: str = "simulated",
    inferences: int = 2,
    **overrides: Any,
) -> dict[str, Any]:
    """A bench record with the given latency; timeline events without call ids."""
    livemind = mode != "baseline"
    n_inf = inferences if livemind else 0
    timeline = []
    for i in range(n_inf):
        timeline += [
            {"type": "segment", "t": 2.0 * i},
            {"type": "inference_started", "t": 2.0 * i},
            {"type": "inference_done", "t": 2.0 * i + 1.0},
        ]
    end = 2.0 * n_inf + 1.0
    timeline += [
        {"type": "input_ended", "t": end},
        {"type": "answer_started", "t": end + 0.01},
        {"type": "answer_first_token", "t": end + 0.1},
        {"type": "answer_done", "t": end + (latency or 0.5)},
    ]
    run = {"mode": mode, "format": fmt, "granularity": "sent", "options": options}
    run |= {"timing": timing, "model": "SmolLM2-135M-Instruct", "speed_cpm": 240}
    record = {
        "run": run, "id": qid, "category": "math", "mode": mode, "answer": "A", "predicted": "A",
        "correct": True, "parsed": True, "latency_s": latency, "ttft_s": 0.1,
        "answer_letter_s": 0.2, "overhead_s": 0.0, "total_model_time_s": 3.0,
        "tokens_before_end": 10 * n_inf, "tokens_after_end": 20, "prompt_tokens": 100,
        "cached_prompt_tokens": 50, "inferences": n_inf, "valid_actions": n_inf,
        "actions": n_inf, "aborted": 0, "input_chars": 100, "input_s": end,
        "timeline": timeline, "answer_text": "The answer is (A).", "inference_texts": [],
        "error": None,
    }  # fmt: skip
    return record | overrides


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def by_mode(summaries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["mode"]: s for s in summaries}


@pytest.fixture
def two_mode_file(tmp_path: Path) -> str:
    """LiveMind latencies 1..4 plus an error record; baseline latencies 2, 4, 6, 8."""
    records = [
        make_record("q1", latency=1.0),
        make_record("q2", latency=2.0, correct=False),
        make_record("q3", latency=3.0, correct=False, parsed=False, ttft_s=None),
        make_record("q4", latency=4.0, ttft_s=0.3),
        make_record("q5", latency=100.0, ttft_s=50.0, error="engine failed"),
    ]
    records += [make_record(f"q{i + 1}", "baseline", lat) for i, lat in enumerate([2, 4, 6, 8])]
    return write_jsonl(tmp_path / "both.jsonl", records)


def test_summary_numbers(two_mode_file: str) -> None:
    runs = by_mode(summarize_runs(load_runs([two_mode_file])))
    live, base = runs["livemind"], runs["baseline"]
    assert live["n"] == 5 and live["errors"] == 1
    assert live["accuracy"] == pytest.approx(2 / 5)  # the error record counts as wrong
    assert live["unparsed"] == 2  # parsed=false and the error record
    # The 100 s error record is left out of every latency statistic.
    assert live["latency_mean_s"] == pytest.approx(2.5)
    assert live["latency_p50_s"] == pytest.approx(2.5)
    assert live["latency_p90_s"] == pytest.approx(3.7)  # linear: 3 + 0.7 * (4 - 3)
    assert live["ttft_mean_s"] == pytest.approx((0.1 + 0.1 + 0.3) / 3)  # nulls skipped
    assert base["latency_mean_s"] == pytest.approx(5.0)
    assert base["latency_p90_s"] == pytest.approx(7.4)
    assert live["latency_mean_ratio"] == pytest.approx(0.5)
    assert live["latency_p50_ratio"] == pytest.approx(0.5)
    assert base["latency_mean_ratio"] is None
    assert live["valid_action_share"] == pytest.approx(1.0)
    assert base["valid_action_share"] is None  # a baseline takes no actions
    assert live["cached_share"] == pytest.approx(0.5)


def test_runs_split_by_format_and_ratios_only_within_file(tmp_path: Path) -> None:
    first = write_jsonl(
        tmp_path / "a.jsonl",
        [
            make_record("q1", latency=1.0),
            make_record("q1", latency=3.0, fmt="u-pi"),
            make_record("q1", "baseline", 4.0),
            make_record("q1", latency=2.0, options="first"),  # no baseline with these options
        ],
    )
    second = write_jsonl(tmp_path / "b.jsonl", [make_record("q1", latency=0.5)])
    summaries = summarize_runs(load_runs([first, second]))
    assert [(s["file"], s["format"], s["options"]) for s in summaries] == [
        (first, "ua-spi", "at-end"),
        (first, "u-pi", "at-end"),
        (first, "ua-spi", "at-end"),
        (first, "ua-spi", "first"),
        (second, "ua-spi", "at-end"),
    ]
    ratios = [s["latency_mean_ratio"] for s in summaries]
    assert ratios == [pytest.approx(0.25), pytest.approx(0.75), None, None, None]


def test_table_output(two_mode_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_analyze([two_mode_file], None, False, None) == 0
    out = capsys.readouterr().out
    assert two_mode_file in out
    assert "livemind" in out and "baseline" in out
    assert "0.50x" in out  # the ratio column


def test_one_mode_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_jsonl(tmp_path / "live.jsonl", [make_record("q1"), make_record("q2")])
    assert run_analyze([path], None, True, None) == 0
    (run,) = json.loads(capsys.readouterr().out)["runs"]
    assert run["latency_mean_ratio"] is None and run["latency_p50_ratio"] is None


def test_json_output(
    two_mode_file: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_path = tmp_path / "out.csv"
    assert run_analyze([two_mode_file], str(csv_path), True, None) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)  # stdout is the JSON object alone
    assert list(data) == ["runs", "paired"] and len(data["runs"]) == 2
    for run in data["runs"]:
        assert set(JSON_REQUIRED) <= set(run)
    # Both modes answered the same questions: one paired comparison of the file.
    (paired,) = data["paired"]
    assert paired["file"] == two_mode_file and paired["n"] > 0
    assert paired["ci_low"] <= paired["difference"] <= paired["ci_high"]
    assert {"mean_ratio", "median_ratio", "mcnemar_p", "letters_a", "letters_b"} <= set(paired)
    assert "wrote" in captured.err  # notes go to stderr under --json


def test_csv_output(two_mode_file: str, tmp_path: Path) -> None:
    csv_path = tmp_path / "summary.csv"
    run_analyze([two_mode_file], str(csv_path), True, None)
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    assert set(JSON_REQUIRED) | {"latency_mean_ratio", "errors"} <= set(rows[0])
    live = next(r for r in rows if r["mode"] == "livemind")
    assert float(live["latency_p90_s"]) == pytest.approx(3.7)
    assert live["errors"] == "1"


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(make_record()) + "\n\n{not json\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:3: invalid JSON"):
        load_records(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("latency_s"), r":2: missing key\(s\) latency_s"),
        (lambda r: r["run"].pop("timing"), r":2: missing key\(s\) run\.timing"),
        (lambda r: r.update(ttft_s="fast"), r":2: 'ttft_s' is not a number"),
        (lambda r: r["run"].update(options=["at-end"]), r":2: 'run\.options' is not a string"),
    ],
)
def test_bad_record_names_file_and_line(tmp_path: Path, change: Any, message: str) -> None:
    bad = make_record("q2")
    change(bad)
    path = write_jsonl(tmp_path / "keys.jsonl", [make_record("q1"), bad])
    with pytest.raises(ValueError, match=r"keys\.jsonl" + message):
        run_analyze([path], None, False, None)


def test_empty_or_missing_file(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match=r"empty\.jsonl: no records"):
        load_records(tmp_path / "empty.jsonl")
    with pytest.raises(ValueError, match=r"nope\.jsonl: cannot read"):
        load_records(tmp_path / "nope.jsonl")


def test_sample_fixture_summary() -> None:
    runs = by_mode(summarize_runs(load_runs([SAMPLE])))
    live, base = runs["livemind"], runs["baseline"]
    assert (live["n"], base["n"]) == (4, 4)
    assert (live["accuracy"], base["accuracy"]) == (0.5, 0.25)
    assert live["latency_mean_ratio"] < 0.2  # LiveMind answers long before the CoT baseline


def test_plots_from_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot_dir = tmp_path / "plots" / "nested"
    assert run_analyze([str(SAMPLE)], None, False, str(plot_dir)) == 0
    names = {p.name for p in plot_dir.iterdir()}
    # mmlu-pro-70 has the most inferences in the sample.
    assert names == {
        "latency_cdf.png",
        "accuracy_by_category.png",
        "accuracy_latency.png",
        "timeline_mmlu-pro-70.png",
    }
    for png in plot_dir.iterdir():
        data = png.read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        assert len(data) > 5_000
    assert str(plot_dir / "latency_cdf.png") in capsys.readouterr().out


def test_pick_timeline(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "t.jsonl",
        [
            make_record("q1", inferences=1),
            make_record("q2", inferences=3),
            make_record("q3", inferences=9, error="engine failed"),  # errors are not drawn
            make_record("q2", "baseline"),
        ],
    )
    runs = load_runs([path])
    record, baseline = pick_timeline(runs) or ({}, None)
    assert record["id"] == "q2" and baseline is not None and baseline["mode"] == "baseline"
    record, baseline = pick_timeline(runs, "q1") or ({}, None)
    assert record["id"] == "q1" and baseline is None
    with pytest.raises(ValueError, match="q9"):
        pick_timeline(runs, "q9")
    record, baseline = pick_timeline([r for r in runs if r.mode == "baseline"]) or ({}, None)
    assert record["mode"] == "baseline" and baseline is None
    failed = write_jsonl(tmp_path / "failed.jsonl", [make_record("q1", error="engine failed")])
    assert pick_timeline(load_runs([failed])) is None


def test_all_records_failed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = [make_record(f"q{i}", error="engine failed") for i in range(3)]
    path = write_jsonl(tmp_path / "[failed].jsonl", records)  # brackets: no rich markup
    (summary,) = summarize_runs(load_runs([path]))
    assert (summary["n"], summary["errors"], summary["unparsed"]) == (3, 3, 3)
    assert summary["accuracy"] == 0 and summary["latency_p50_s"] is None
    assert run_analyze([path], None, False, str(tmp_path / "plots")) == 0
    out = capsys.readouterr().out
    assert "[failed].jsonl" in out
    assert "timeline_" not in out  # no error-free question to draw
    assert {p.name for p in (tmp_path / "plots").iterdir()} == {
        "latency_cdf.png",
        "accuracy_by_category.png",
        "accuracy_latency.png",
    }
