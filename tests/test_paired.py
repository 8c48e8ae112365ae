"""Paired statistics of LiveMind against the baseline: known inputs, known outputs."""

from __future__ import annotations

import math

import pytest

from voice_livemind.bench.analyze.paired import (
    compare_modes,
    latency_ratios,
    letter_shares,
    mcnemar_exact_p,
    paired_accuracy,
)
from voice_livemind.bench.analyze.plots_accuracy import wilson_interval


def test_mcnemar_exact_p_matches_the_binomial_by_hand():
    # 1 against 5 discordant pairs: 2 * P(X <= 1), X ~ Bin(6, 1/2) = 2 * 7/64.
    assert mcnemar_exact_p(1, 5) == pytest.approx(14 / 64)
    assert mcnemar_exact_p(5, 1) == pytest.approx(14 / 64)
    assert mcnemar_exact_p(0, 0) == 1.0
    assert mcnemar_exact_p(3, 3) == 1.0  # capped: the two tails overlap
    assert mcnemar_exact_p(0, 10) == pytest.approx(2 / 1024)


def test_identical_modes_differ_by_zero_with_a_zero_width_interval():
    correct = [True, False, True, True]
    paired = paired_accuracy(correct, correct)
    assert paired.difference == paired.ci_low == paired.ci_high == 0.0
    assert paired.accuracy_a == paired.accuracy_b == 0.75
    assert (paired.only_a_correct, paired.only_b_correct, paired.mcnemar_p) == (0, 0, 1.0)


def test_a_difference_gets_an_interval_around_it_that_repeats():
    a = [True] * 60 + [False] * 40
    b = [True] * 50 + [False] * 50  # a is right on 10 more questions, wrong on none more
    paired = paired_accuracy(a, b)
    assert paired.difference == pytest.approx(0.10)
    assert paired.only_a_correct == 10 and paired.only_b_correct == 0
    # The bootstrap difference is 10/100 times a Binomial(100, 0.1)/10 share: its 95%
    # interval is about 0.1 +- 1.96 * sqrt(0.1 * 0.9 / 100) = [0.04, 0.16].
    assert 0.03 <= paired.ci_low <= 0.05 and 0.15 <= paired.ci_high <= 0.17
    assert paired == paired_accuracy(a, b)  # fixed seed: the same numbers every time
    assert paired.mcnemar_p == pytest.approx(2 / 1024)


def test_unpaired_or_empty_inputs_are_refused():
    with pytest.raises(ValueError, match="unpaired"):
        paired_accuracy([True], [True, False])
    with pytest.raises(ValueError, match="no questions"):
        paired_accuracy([], [])


def test_latency_ratios_are_of_means_and_of_medians():
    ratios = latency_ratios([1.0, 1.0, 4.0], [10.0, 20.0, 30.0])
    assert ratios["mean_ratio"] == pytest.approx(2.0 / 20.0)
    assert ratios["median_ratio"] == pytest.approx(1.0 / 20.0)


def test_letter_shares_count_missing_letters_apart():
    assert letter_shares(["A", "A", "B", None], "ABCD") == {
        "A": 0.5, "B": 0.25, "C": 0.0, "D": 0.0, "none": 0.25
    }  # fmt: skip


def record(qid, mode, correct, latency, predicted="A", answer="A", **more):
    return {
        "id": qid, "mode": mode, "correct": correct, "latency_s": latency,
        "predicted": predicted, "answer": answer, "error": None, **more,
    }  # fmt: skip


def test_compare_modes_pairs_by_question_and_skips_the_unpaired():
    records = [
        record("q1", "livemind", True, 1.0),
        record("q1", "baseline", True, 10.0, finish_reason="length", letter_extracted=True),
        record("q2", "livemind", False, 2.0, predicted="B"),
        record("q2", "baseline", True, 30.0),
        record("q3", "livemind", True, 1.0),  # no baseline answer: not a pair
        {**record("q4", "livemind", True, None, answer="B"), "error": "engine died"},
        record("q4", "baseline", False, 20.0, predicted="C", answer="B"),
    ]
    c = compare_modes(records)
    assert c["n"] == 3
    assert c["accuracy_a"] == pytest.approx(1 / 3) and c["accuracy_b"] == pytest.approx(2 / 3)
    assert c["only_a_correct"] == 0 and c["only_b_correct"] == 1
    assert c["dropped_a"] == 1 and c["dropped_b"] == 0
    assert c["mean_ratio"] == pytest.approx(1.5 / 20.0)  # q4 has no LiveMind latency
    assert c["token_limit_b"] == 1 and c["letter_extracted_b"] == 1 and c["token_limit_a"] == 0
    assert c["letters_truth"] == {"A": 2 / 3, "B": 1 / 3, "C": 0.0}
    assert c["letters_a"] == {"A": 2 / 3, "B": 1 / 3, "C": 0.0}
    assert compare_modes([record("q1", "livemind", True, 1.0)]) is None


def test_wilson_interval_by_hand():
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert math.isclose(wilson_interval(10, 10)[1], 1.0)
