"""Word error rate: normalisation and edit distance."""

from __future__ import annotations

import pytest

from voice_livemind.asr.wer import WordErrors, normalise_words, wer, word_errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What is the capital of France?", "what is the capital of france"),
        ("Three forces act on the car.", "3 forces act on the car"),
        ("twenty-one", "21"),
        ("one hundred and five", "105"),
        ("North Carolina's one hundred counties", "north carolina's 100 counties"),
        ("two thousand and twenty four", "2024"),
        ("sixty five million", "65000000"),
        ("five six", "5 6"),
        ("two and a half", "2 and a half"),
        ("It's 1,000 people, 3.5%.", "it's 1000 people 3.5 percent"),
        ("well-known", "well known"),
        ("'quoted' words", "quoted words"),
    ],
)
def test_normalisation(text, expected):
    assert normalise_words(text) == expected.split()


def test_spelling_choices_are_not_errors():
    assert wer("It has three forces, twenty-one in all.", "it has 3 forces 21 in all") == 0.0


def test_substitution_deletion_insertion():
    assert word_errors("a b c d", "a x c d") == WordErrors(1, 4)
    assert word_errors("a b c d", "a c d") == WordErrors(1, 4)
    assert word_errors("a b c d", "a b c d e f") == WordErrors(2, 4)
    assert wer("a b c d", "") == 1.0


def test_corpus_wer_adds_edits_not_rates():
    total = word_errors("a b", "a x") + word_errors("a b c d e f g h", "a b c d e f g h")
    assert total == WordErrors(1, 10)
    assert total.rate == 0.1


def test_empty_reference():
    assert wer("", "") == 0.0
    assert wer("", "hello") == 1.0
