"""Answer extraction from free text: the shapes models use, precedence, and false positives."""

from __future__ import annotations

import pytest

from voice_livemind.bench.datasets import Question
from voice_livemind.bench.scoring import Score, extract_answer, score_answer

ABCD = ("A", "B", "C", "D")
TEN = tuple("ABCDEFGHIJ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # answer statements
        ("The answer is (B)", "B"),
        ("Adding the times: 40 + 40 + 30 minutes, so the answer is B.", "B"),
        ("answer is: **C**", "C"),
        ("The correct answer is: **(D)**.", "D"),
        ("The answer is option C.", "C"),
        ("the answer is (c)", "C"),
        ("so the answer is c.", "C"),
        ("The answer is A because the train is faster.", "A"),
        ("The best choice is $\\boxed{B}$", "B"),
        # answer labels
        ("Answer: B", "B"),
        ("**Answer:** D", "D"),
        ("Final answer: (A)", "A"),
        ("answer: c", "C"),
        ("So we get $\\boxed{C}$.", "C"),
        # marked letters
        ("**B**", "B"),
        ("(B)", "B"),
        ("I would go with Option C here.", "C"),
        # a line holding only a letter
        ("B.", "B"),
        ("After working it out:\nB)\n", "B"),
        ("Let me check.\n\nD\n", "D"),
    ],
)
def test_answer_shapes(text: str, expected: str) -> None:
    assert extract_answer(text, ABCD) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I first thought A... The answer is (C)", "C"),
        ("The answer is (A). Wait, re-checking: the answer is (D).", "D"),
        ("Answer: (B)\nAnswer: (C)", "C"),
        ("(A) is too slow and (B) too fast, so (C)", "C"),
        # a stronger tier wins over a later, weaker one
        ("The answer is (B).\nAnswer: C", "B"),
        ("Answer: B\nOption (C) was tempting.", "B"),
        ("Option A is wrong; **D**\nC", "D"),
    ],
)
def test_precedence_and_last_answer_wins(text: str, expected: str) -> None:
    assert extract_answer(text, ABCD) == expected


@pytest.mark.parametrize(
    "text",
    [
        "A train travels at 60 km/h for two hours.",
        "The answer is A train that leaves at noon.",
        "Answer: A train that leaves at noon.",
        "the answer is a bit tricky to see",
        "The answer is I think unclear.",
        "The answer is Bob's choice.",
        "I think the answer is not obvious.",
        "The answer is 42.",
        "(a) first case, (b) second case",
        "The answer is (J)",  # not one of four options
        "",
    ],
)
def test_no_false_positives(text: str) -> None:
    assert extract_answer(text, ABCD) is None


def test_only_valid_letters_count() -> None:
    text = "The answer is (C). Hmm, maybe the answer is (J)."
    assert extract_answer(text, ABCD) == "C"
    assert extract_answer(text, TEN) == "J"
    assert extract_answer("The answer is I.", TEN) == "I"


def test_score_answer() -> None:
    question = Question("mmlu-pro-1", "mmlu-pro", "math", "2 + 2?", ("3", "4", "5"), "B")
    assert score_answer("The answer is (B).", question) == Score("B", True, True)
    assert score_answer("The answer is (C).", question) == Score("C", False, True)
    assert score_answer("The answer is (D).", question) == Score(None, False, False)
    assert score_answer("I am not sure.", question) == Score(None, False, False)
