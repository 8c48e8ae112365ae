"""Segmentation: lossless, sensible boundaries per granularity, and stable as text grows."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice_livemind.livemind.segmenter import (
    Granularity,
    StreamingSegmenter,
    segment,
    stable_segments,
)

ALL = list(Granularity)

ABBREVIATIONS = "Dr. Smith went to Washington. He met the U.S. president."
NUMBERS = "The trip took 3:45 hours and cost 1,000 dollars, so we stayed home; nobody minded."
STORY = (
    "A farmer has 17 sheep and buys 5 more. Then a storm scares away 8 of them! "
    "The next day 3 of the lost sheep come back. How many sheep does the farmer have now? "
    "Dr. Brown, the vet, counts them twice: once in the morning, once at night.\n"
    "Options: (A) 14 (B) 17 (C) 9 (D) 22"
)

FIXED_TEXTS = [
    "",
    " ",
    "\n\n",
    "word",
    "  leading and trailing whitespace.  ",
    "\nStarts with a newline. Ends with one.\n",
    "Line one.\nLine two.\n\nParagraph two, with a clause; and more: yes.",
    ABBREVIATIONS,
    NUMBERS,
    STORY,
    "Wait... what?! Really?? Yes.",
    "Ünïcödé text — with dashes, «quotes» and émojis 😀. Second sentence here.",
    "a,b;c:d , e ;  f :\tg",
]


def _random_texts(n: int) -> list[str]:
    """Deterministic messy strings: words, abbreviations, numbers, punctuation, whitespace."""
    rng = random.Random(0)
    atoms = [
        "the", "Dog", "ran", "U.S.", "Dr.", "1,000", "3:45", "a.m.", "e.g.", "x", "I",
        "é", "😀", ",", ";", ":", ".", "!", "?", "...", "-", "(A)",
    ]  # fmt: skip
    seps = [" ", " ", " ", "  ", "\n", "\n\n", "\t", "", ", ", ". ", "; ", ": "]
    texts = []
    for _ in range(n):
        parts = [rng.choice(atoms) + rng.choice(seps) for _ in range(rng.randint(0, 12))]
        text = "".join(parts)
        if rng.random() < 0.3:
            text = rng.choice([" ", "\n", "  "]) + text
        texts.append(text)
    return texts


@pytest.mark.parametrize("granularity", ALL)
@pytest.mark.parametrize("min_chars", [0, 1, 10, 40])
def test_segment_is_lossless(granularity, min_chars):
    for text in [*FIXED_TEXTS, *_random_texts(150)]:
        segments = segment(text, granularity, min_chars)
        assert "".join(segments) == text, (text, segments)
        assert all(segments), f"empty segment in {segments!r}"


@pytest.mark.parametrize("granularity", ALL)
def test_empty_text_has_no_segments(granularity):
    assert segment("", granularity) == []
    assert stable_segments("", granularity) == []
    assert stable_segments("", granularity, final=True) == []


def test_granularity_accepts_plain_strings():
    assert segment("Hello there. Bye now.", "sent") == segment("Hello there. Bye now.", "sent")
    with pytest.raises(ValueError):
        segment("text", "paragraph")


def test_sentences_keep_abbreviations_whole():
    assert segment(ABBREVIATIONS, Granularity.SENT) == [
        "Dr. Smith went to Washington. ",
        "He met the U.S. president.",
    ]


def test_sentences_carry_their_trailing_whitespace_and_newlines():
    text = "  Hello there.\n\nNew paragraph here.  "
    assert segment(text, Granularity.SENT) == ["  Hello there.\n\n", "New paragraph here.  "]


def test_sentences_split_at_question_and_exclamation_marks():
    assert segment("Is it cold? Yes! Take a coat.", "sent") == [
        "Is it cold? ",
        "Yes! ",
        "Take a coat.",
    ]


def test_clauses_split_after_punctuation_followed_by_space_only():
    assert segment(NUMBERS, Granularity.CLAUSE) == [
        "The trip took 3:45 hours and cost 1,000 dollars, ",
        "so we stayed home; ",
        "nobody minded.",
    ]


def test_clauses_also_split_at_sentence_boundaries():
    assert segment("One, two. Three; four", Granularity.CLAUSE) == [
        "One, ",
        "two. ",
        "Three; ",
        "four",
    ]


def test_clause_punctuation_without_following_space_does_not_split():
    assert segment("a,b;c:d", Granularity.CLAUSE) == ["a,b;c:d"]


def test_words_attach_trailing_whitespace_and_keep_leading_whitespace_first():
    assert segment("  Hello big\n world ", Granularity.WORD) == [
        "  Hello ",
        "big\n ",
        "world ",
    ]


def test_numbers_are_single_words():
    assert segment("at 3:45 for 1,000", Granularity.WORD) == ["at ", "3:45 ", "for ", "1,000"]


def test_characters_are_single_characters():
    assert segment("a b\n😀", Granularity.CHAR) == ["a", " ", "b", "\n", "😀"]


def test_min_chars_merges_short_segments_into_the_next():
    assert segment("Hi. Yes. This is longer. Ok.", "sent") == [
        "Hi. ",
        "Yes. ",
        "This is longer. ",
        "Ok.",
    ]
    # "Hi. " and "Yes. " are short and merge forward; the short tail stays on its own.
    assert segment("Hi. Yes. This is longer. Ok.", "sent", min_chars=10) == [
        "Hi. Yes. This is longer. ",
        "Ok.",
    ]
    assert segment("Hi. Yes. This is longer. Ok.", "sent", min_chars=8) == [
        "Hi. Yes. ",
        "This is longer. ",
        "Ok.",
    ]


def test_min_chars_ignores_whitespace_when_measuring():
    # "a,     " is 7 characters but only 2 without whitespace.
    assert segment("a,     b, ccc", Granularity.CLAUSE, min_chars=3) == ["a,     b, ", "ccc"]


def test_min_chars_every_merged_segment_but_the_last_is_long_enough():
    for text in [STORY, NUMBERS, *_random_texts(50)]:
        for granularity in ALL:
            segments = segment(text, granularity, min_chars=12)
            assert all(len(s.strip()) >= 12 for s in segments[:-1]), segments


@pytest.mark.parametrize("granularity", ALL)
def test_stable_segments_hold_back_the_last_segment_until_final(granularity):
    text = "The first sentence, with a clause. The second one"
    segments = segment(text, granularity)
    assert len(segments) >= 2
    assert stable_segments(text, granularity) == segments[:-1]
    assert stable_segments(text, granularity, final=True) == segments


def test_a_single_sentence_is_not_stable_until_the_next_one_starts():
    assert stable_segments("The train leaves at noon.", "sent") == []
    assert stable_segments("The train leaves at noon. ", "sent") == []
    assert stable_segments("The train leaves at noon. It is ", "sent") == [
        "The train leaves at noon. "
    ]


@pytest.mark.parametrize("granularity", ALL)
@pytest.mark.parametrize("min_chars", [0, 10])
@pytest.mark.parametrize("text", [STORY, NUMBERS, ABBREVIATIONS], ids=["story", "num", "abbr"])
def test_stable_segments_only_grow_as_text_arrives(granularity, min_chars, text):
    previous: list[str] = []
    for end in range(len(text) + 1):
        current = stable_segments(text[:end], granularity, min_chars)
        assert current[: len(previous)] == previous, f"changed at {text[:end]!r}"
        assert "".join(current) == text[: len("".join(current))]
        previous = current
    final = stable_segments(text, granularity, min_chars, final=True)
    assert final[: len(previous)] == previous
    assert "".join(final) == text


def test_stable_sentence_is_not_retracted_when_the_next_word_grows():
    text = "I met Mr. Parker today. We talked."
    previous: list[str] = []
    for end in range(len(text) + 1):
        current = stable_segments(text[:end], Granularity.SENT)
        assert current[: len(previous)] == previous, f"changed at {text[:end]!r}"
        previous = current


@pytest.mark.parametrize("granularity", ALL)
@pytest.mark.parametrize("min_chars", [0, 10])
@pytest.mark.parametrize("text", [STORY, NUMBERS, ABBREVIATIONS], ids=["story", "num", "abbr"])
def test_streaming_segmenter_finds_what_whole_text_segmentation_finds(granularity, min_chars, text):
    streaming = StreamingSegmenter(granularity, min_chars)
    for end in range(len(text) + 1):  # a character at a time, as typed
        streaming.update(text[:end])
        assert streaming.segments == stable_segments(text[:end], granularity, min_chars)
        assert streaming.stable_text == "".join(streaming.segments)


def test_streaming_segmenter_refuses_text_that_drops_its_stable_part():
    streaming = StreamingSegmenter("sent")
    assert streaming.update("One sentence here. Two sentences ") == ["One sentence here. "]
    with pytest.raises(ValueError, match="stable segments"):
        streaming.update("Another text altogether.")


# Text made of the characters segmentation cares about, so boundaries of every kind occur.
MESSY = st.lists(
    st.sampled_from([*"aZ1 .,;:!?\n\t\u00e9\U0001f600", " Dr. ", " U.S. ", "3:45", "Bob"]),
    max_size=60,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(text=MESSY, granularity=st.sampled_from(ALL), min_chars=st.sampled_from([0, 1, 10]))
def test_fuzzed_segmentation_is_lossless_and_stable_is_a_prefix(text, granularity, min_chars):
    assert "".join(segment(text, granularity, min_chars)) == text
    stable = "".join(stable_segments(text, granularity, min_chars))
    assert text.startswith(stable)
    assert "".join(stable_segments(text, granularity, min_chars, final=True)) == text


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(MESSY, max_size=12),
    granularity=st.sampled_from(ALL),
    min_chars=st.sampled_from([0, 10]),
)
def test_fuzzed_streaming_segments_only_grow_and_stay_a_prefix(pieces, granularity, min_chars):
    streaming = StreamingSegmenter(granularity, min_chars)
    text = ""
    for piece in pieces:
        text += piece
        before = list(streaming.segments)
        new = streaming.update(text)
        assert streaming.segments == before + new and all(new)
        assert text.startswith(streaming.stable_text)
