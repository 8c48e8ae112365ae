"""benchmarks/endpointing.py: the policies replayed over stored observations (pure logic)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "endpointing.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("endpointing_bench", _PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["endpointing_bench"] = module
    spec.loader.exec_module(module)
    return module


ALL_READ = "Which planet is largest? Options. A, Mars. B, Venus. C, Earth. D, Jupiter."
OBSERVATION = {
    "id": "q",
    "speech_end_t": 10.0,
    "probe_s": 0.25,
    "pauses": [{"t": 3.0, "duration_s": 0.7, "kind": "after_options"}],
    "vad_pauses": [
        {"start": 2.0, "length": 0.1},  # too short to probe
        {
            "start": 3.0,
            "length": 0.7,
            "text": "Which planet is largest? Options.",
            "p": 0.9,
            "compute_s": 0.1,
        },
        {"start": 10.02, "length": 2.0, "text": ALL_READ, "p": 0.95, "compute_s": 0.1},
    ],
}


def test_silence_only_cuts_at_the_first_long_enough_pause(bench):
    cut = bench.decide_turn(OBSERVATION, bench.silence_only(0.6))
    assert cut.cut_off and cut.at_kind == "after_options"
    waited = bench.decide_turn(OBSERVATION, bench.silence_only(1.0))
    assert not waited.cut_off and waited.latency_s == pytest.approx(0.02 + 1.0)


def test_smart_turn_alone_believes_the_model(bench):
    decision = bench.decide_turn(OBSERVATION, bench.smart_turn_alone(1.5, compute_s=None))
    assert decision.cut_off  # P = 0.9 after "Options."


def test_fused_waits_out_the_options_and_ends_after_probe_and_compute(bench):
    policy = bench.fused(bench.EndpointingConfig(), "absent", compute_s=None)
    decision = bench.decide_turn(OBSERVATION, policy)
    assert not decision.cut_off
    assert decision.latency_s == pytest.approx(0.02 + 0.25 + 0.1)
    idle = bench.fused(bench.EndpointingConfig(), "absent", compute_s=0.05)
    assert bench.decide_turn(OBSERVATION, idle).latency_s == pytest.approx(0.02 + 0.25 + 0.05)


def test_summary_counts_cut_offs_and_latencies(bench):
    decisions = [
        bench.Decision(True, None, "um"),
        bench.Decision(False, 0.4),
        bench.Decision(False, 0.6),
    ]
    summary = bench.summarise(decisions)
    assert summary["false_cutoffs"] == 1 and summary["cut_at"] == {"um": 1}
    assert summary["latency_mean_s"] == pytest.approx(0.5)
