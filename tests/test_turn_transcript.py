"""Transcript end-of-turn signals: pure functions over recognised text."""

from __future__ import annotations

import pytest

from voice_livemind.turn.transcript import (
    ends_with_filler,
    ends_with_question_mark,
    is_complete_sentence,
    options_state,
    transcript_signals,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What is the largest planet?", True),
        ("What is the largest planet? ", True),
        ("What is the largest planet.", False),
        ("", False),
    ],
)
def test_question_mark(text, expected):
    assert ends_with_question_mark(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A farmer has 17 sheep.", True),
        ("Who is the youngest?", True),
        ("It is in the", False),  # no sentence end
        ("The capital of, um.", False),  # Whisper's period at a pause after a filler
        ("It goes to the.", False),  # a sentence does not end on "the"
        ("Which planet is the largest? Options.", False),  # an announcement, more to come
        ("He said 'yes.'", True),
        ("", False),
    ],
)
def test_complete_sentence(text, expected):
    assert is_complete_sentence(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What does the acronym SMART stand for?", True),
        ("Which of the boys on the show is adopted.", True),  # Whisper's period after a question
        ("How much do two kilos of apples cost.", True),
        ("A farmer has 17 sheep.", False),
        ("Which of the boys on the", False),
        ("Which one. And then the", False),
    ],
)
def test_finished_question(text, expected):
    assert transcript_signals(text).question is expected


def test_a_question_may_end_on_a_preposition():
    assert not transcript_signals("What does the acronym SMART stand for?").ends_dangling
    assert transcript_signals("It stands for").ends_dangling


def test_fillers():
    assert ends_with_filler("The capital of, um.")
    assert ends_with_filler("Uh")
    assert not ends_with_filler("The umbrella.")
    assert not ends_with_filler("")


@pytest.mark.parametrize(
    ("text", "letters", "read"),
    [
        ("Which one? Options.", (), False),
        ("Which one? Options: A.", ("A",), False),  # the letter only: its option is still to come
        ("Which one? Options: A, Mars. B, Venus.", ("A", "B"), True),
        ("Which one? Options: A, Mars. B, Venus. C, Earth. D.", ("A", "B", "C", "D"), False),
        ("Options are (A) 14 (B) 17 (C) 9 (D) 22", ("A", "B", "C", "D"), True),
        ("Options A. Mars B. Jupiter C. Venus. D. Earth.", ("A", "B", "C", "D"), True),
        ("Option A: Mars. Option B: Venus.", ("A", "B"), True),
        # After "option" a letter needs no punctuation, in either case.
        (
            "scenario two. Option A, wrong, wrong. option b wrong not wrong option c not wrong "
            "Option D, not wrong,",
            tuple("ABCD"),
            True,
        ),
        ("Options? Option A 5 Option B. 6, Option C 12. Option D 15.", tuple("ABCD"), True),
        ("Option A is 5. Option B is", ("A", "B"), True),
        # Letters Whisper writes as words: "The." for B, "See." or "T." for C.
        (
            "Options. A. Facilitate tasks. The. Easy tasks. See. Hard tasks. D. All.",
            tuple("ABCD"),
            True,
        ),
        (
            "options A, physical injury, B. stress, T. impaired development D. all of the above.",
            tuple("ABCD"),
            True,
        ),
        # "options" inside an option announces nothing.
        (
            "Options A, one. B. two. C. three. D. All of the options given are correct.",
            tuple("ABCD"),
            True,
        ),
        # In increasing order, one letter may be missing (misheard); a jump of two is no option.
        ("Options. A, Mars. C, Venus.", ("A", "C"), True),
        ("Options. A, Mars. D, Venus.", ("A",), True),
        ("Options. B, Mars. A, Venus.", ("B",), True),
        # Whisper's "options a" for a letter said right after the announcement, then a misheard
        # option and a repeated letter: A, B, C and D read, D with its text.
        (
            "options a I'll see you all later. B. R, C, a t, relaxation oscillator. C, D. Crystal.",
            ("A", "B", "C", "D"),
            True,
        ),
    ],
)
def test_options_read_in_order(text, letters, read):
    state = options_state(text)
    assert state.announced
    assert state.letters == letters
    assert state.last_option_read is read


def test_a_is_an_article_before_any_announcement():
    state = options_state("A farmer has a dog. A, B and C are letters.")
    assert not state.announced and state.letters == ()


def test_all_read_needs_the_expected_count_and_the_last_text():
    four = options_state("Options: A, one. B, two. C, three. D, four.")
    assert four.all_read(4) and not four.all_read(5)
    letter_only = options_state("Options: A, one. B, two. C, three. D.")
    assert not letter_only.all_read(4)


def test_a_question_about_the_following_expects_options():
    assert transcript_signals("Which of the following is a planet?").options_expected
    assert not transcript_signals("Which of the following is a planet? Options.").options_expected
    assert not transcript_signals("What follows from this?").options_expected


def test_signals_together():
    pending = transcript_signals("Which planet is the largest? Options. A, Mars.")
    assert pending.options_pending(4)
    assert not pending.question_mark
    done = transcript_signals(
        "Which planet is largest? Options. A, Mars. B, Venus. C, Earth. D, Io."
    )
    assert not done.options_pending(4) and done.complete_sentence
    open_question = transcript_signals("In which country do most people choose cremation?")
    assert open_question.question_mark and not open_question.options_pending(4)
