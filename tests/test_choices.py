"""Options read from a question's text, the letter constraint and the spoken choice."""

from __future__ import annotations

import pytest

from voice_livemind.bench.datasets import load_questions
from voice_livemind.livemind.choices import (
    Option,
    OptionStyle,
    extract_answer,
    letter_regex,
    option_style,
    parse_options,
    spoken_choice,
)
from voice_livemind.livemind.samples import SAMPLE_QUESTION


def labels_and_texts(text: str) -> list[tuple[str, str]]:
    return [(o.label, o.text) for o in parse_options(text)]


@pytest.mark.parametrize(
    "text",
    [
        "How long? Options: (A) 1 hour (B) 2 hours (C) 3 hours",
        "How long?\nOptions are:\n(A): 1 hour\n(B): 2 hours\n(C): 3 hours\n",
        "How long? Option A: 1 hour. Option B: 2 hours. Option C: 3 hours.",
        "How long? option A, 1 hour, option B, 2 hours, option C, 3 hours",
        "How long?\nA. 1 hour\nB. 2 hours\nC. 3 hours",
        "How long? A) 1 hour B) 2 hours C) 3 hours",
    ],
)
def test_the_ways_people_write_options_all_parse(text):
    assert labels_and_texts(text) == [("A", "1 hour"), ("B", "2 hours"), ("C", "3 hours")]


def test_the_sample_question_offers_its_four_options():
    options = parse_options(SAMPLE_QUESTION)
    assert [o.label for o in options] == ["A", "B", "C", "D"]
    assert options[1] == Option("B", "honey")


@pytest.mark.parametrize(
    "text",
    [
        "Why is the sky blue?",
        "I met Mr. A. Smith at (B) and left.",  # no run from A to B in one style
        "Vitamin A is (A) good",  # a single option is no choice
    ],
)
def test_text_without_a_run_of_options_has_none(text):
    assert parse_options(text) == ()


def test_the_last_run_of_options_counts():
    text = "Earlier: (A) x (B) y. Now: (A) one (B) two (C) three"
    assert [o.text for o in parse_options(text)] == ["one", "two", "three"]


@pytest.mark.parametrize("dataset", ["mmlu", "mmlu-pro"])
def test_benchmark_questions_parse_to_their_own_options(dataset):
    """The session finds a benchmark question's options as the benchmark knows them."""
    for question in load_questions(dataset)[:60]:
        typed = question.question.rstrip() + "\n" + question.options_text
        options = parse_options(typed)
        assert tuple(o.label for o in options) == question.letters, question.id
        texts = tuple(t.strip().removesuffix(".").rstrip() for t in question.options)
        assert tuple(o.text for o in options) == texts, question.id


def test_letter_regex_allows_only_the_labels():
    assert letter_regex(["A", "B", "C", "D"], ")") == r"[ABCD]\)"
    assert letter_regex(list("ABCDEFGHIJ")) == "[ABCDEFGHIJ]"
    with pytest.raises(ValueError, match="letters A-J"):
        letter_regex([])
    with pytest.raises(ValueError, match="letters A-J"):
        letter_regex(["Y"])


def test_the_spoken_choice_names_the_label_and_the_option():
    assert spoken_choice(Option("B", "frequent muscle contractions")) == (
        "B: frequent muscle contractions."
    )
    assert spoken_choice(Option("C", "Is it?")) == "C: Is it?"
    # ... and the benchmark's reader reads the letter back from it.
    assert extract_answer("B: frequent muscle contractions.", "ABCD") == "B"
    assert extract_answer("Note: B is wrong", "ABCD") is None


@pytest.mark.parametrize(
    "transcript",
    [
        # As Whisper writes options read aloud: lower-case letters, commas, no colons.
        "What causes it? option a the levels of prostaglandin Option B, increased oxygen "
        "supply option C. nerve endings option d, frequent contractions",
        "Scenario two. option a wrong option b wrong not wrong option C not wrong option d "
        "not wrong not wrong",
    ],
)
def test_options_read_aloud_parse_from_their_transcript(transcript):
    options = parse_options(transcript)
    assert [o.label for o in options] == ["A", "B", "C", "D"]
    assert options[0].text.startswith(("the levels", "wrong"))


@pytest.mark.parametrize("style", list(OptionStyle))
def test_each_option_style_renders_what_parses_back_in_that_style(style):
    text = "How long is it?\n" + style.render("ABC", ["1 hour", "2 hours", "3 hours"])
    assert labels_and_texts(text) == [("A", "1 hour"), ("B", "2 hours"), ("C", "3 hours")]
    assert option_style(text) is style


def test_a_transcript_reads_as_spoken_options():
    text = "Menstrual cramps may be caused by option a low levels. Option B, more oxygen."
    assert option_style(text) is OptionStyle.SPOKEN
