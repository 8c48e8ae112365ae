"""analyze on spoken results: the spoken table, ratios to the baseline, stage shares, plots."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from test_spoken_record import ITEM, turn_events

from voice_livemind.bench.analyze.report import run_analyze
from voice_livemind.bench.spoken_record import build_spoken_record


def slower(events, by: float):
    """The same turn with everything after the end of the utterance `by` seconds later."""
    return [replace(e, t=e.t + by) if e.t > 5.2 else e for e in events]


@pytest.fixture
def results(tmp_path):
    path = tmp_path / "spoken.jsonl"
    run = {"format": "u-spi", "granularity": "sent", "options": "spoken", "timing": "realtime",
           "model": "m"}  # fmt: skip
    lines = [
        build_spoken_record(ITEM, "livemind", run, turn_events(), 4.2, 0.6),
        build_spoken_record(ITEM, "baseline", run, slower(turn_events(), 0.9), 4.2, 0.6),
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


def test_spoken_summary_has_the_ratio_and_stage_shares(results, capsys):
    assert run_analyze([str(results)], None, True, None) == 0
    spoken = json.loads(capsys.readouterr().out)["spoken"]
    livemind, baseline = spoken
    assert livemind["first_audio_mean_s"] == pytest.approx(0.9)
    assert baseline["first_audio_mean_s"] == pytest.approx(1.8)
    assert livemind["first_audio_mean_ratio"] == pytest.approx(0.5)
    shares = [livemind[f"stage_{s}_share"] for s in ("endpointing", "asr", "llm", "tts")]
    assert sum(shares) == pytest.approx(1.0) and shares[0] == pytest.approx(0.6 / 0.9)
    assert livemind["wer"] == pytest.approx(1 / 9) and livemind["speculative_answers_kept"] == 1


def test_spoken_table_csv_and_plots(results, tmp_path, capsys):
    csv_path = tmp_path / "summary.csv"
    assert run_analyze([str(results)], str(csv_path), False, str(tmp_path / "plots")) == 0
    out = capsys.readouterr().out
    assert "(spoken)" in out and "0.50x" in out
    # Spoken runs get only the spoken table: the text table's latency (from the end of input)
    # would sit beside the real end of speech -> first audio and mean something else.
    assert "end of input" not in out and not csv_path.exists()
    assert (tmp_path / "summary_spoken.csv").read_text().startswith("file,mode,n,")
    for name in ("spoken_stages.png", "spoken_latency_cdf.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 10_000
    assert not (tmp_path / "plots" / "latency_cdf.png").exists()
