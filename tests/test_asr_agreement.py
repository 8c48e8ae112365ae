"""LocalAgreement-2 and the hallucination filters: pure logic over plain word lists."""

from __future__ import annotations

from voice_livemind.asr.agreement import LocalAgreement, Word, join_words
from voice_livemind.asr.filters import cut_loops, is_hallucination, within


def words(text: str, start: float = 0.0, step: float = 0.5) -> list[Word]:
    """Words of `text`, one every `step` seconds from `start`."""
    return [Word(start + i * step, start + (i + 1) * step, w) for i, w in enumerate(text.split())]


def texts(ws: list[Word]) -> str:
    return join_words(ws)


def test_first_hypothesis_commits_nothing():
    agreement = LocalAgreement()
    agreement.insert(words("what is the"))
    assert agreement.flush() == []
    assert texts(agreement.complete()) == "what is the"


def test_commits_the_common_prefix_of_the_last_two_hypotheses():
    agreement = LocalAgreement()
    agreement.insert(words("what is the cap"))
    agreement.flush()
    agreement.insert(words("what is the capital of"))
    assert texts(agreement.flush()) == "what is the"
    assert texts(agreement.complete()) == "capital of"
    agreement.insert(words("what is the capital of France"))
    assert texts(agreement.flush()) == "capital of"
    assert texts(agreement.committed) == "what is the capital of"
    assert agreement.last_committed_end == 2.5


def test_the_newest_last_word_waits_for_right_context():
    agreement = LocalAgreement()
    agreement.insert(words("what is the capital"))
    agreement.flush()
    agreement.insert(words("what is the capital."))  # the buffer ends here: "." is a guess
    assert texts(agreement.flush()) == "what is the"
    agreement.insert(words("what is the capital of"))
    assert texts(agreement.flush()) == "capital"


def test_commits_stop_at_the_first_disagreement():
    agreement = LocalAgreement()
    agreement.insert(words("which on the following"))
    agreement.flush()
    agreement.insert(words("which of the following"))
    assert texts(agreement.flush()) == "which"


def test_case_and_punctuation_do_not_block_agreement_and_the_newer_spelling_wins():
    agreement = LocalAgreement()
    agreement.insert(words("Paris, France."))
    agreement.flush()
    agreement.insert(words("paris France is"))
    assert texts(agreement.flush()) == "paris France"


def test_offset_moves_buffer_times_to_stream_times():
    agreement = LocalAgreement()
    agreement.insert(words("hello there"), offset=10.0)
    agreement.flush()
    agreement.insert(words("hello there friend"), offset=10.0)
    committed = agreement.flush()
    assert [(w.start, w.end) for w in committed] == [(10.0, 10.5), (10.5, 11.0)]


def test_words_before_the_commit_point_are_not_committed_again():
    agreement = LocalAgreement()
    agreement.insert(words("one two three four"))
    agreement.flush()
    agreement.insert(words("one two three four five"))
    assert texts(agreement.flush()) == "one two three four"  # ends at 2.0 s
    agreement.insert(words("one two three four five six"))  # the same buffer, decoded again
    assert texts(agreement.flush()) == "five"
    assert texts(agreement.committed) == "one two three four five"


def test_repeated_ngram_at_the_commit_boundary_is_dropped():
    agreement = LocalAgreement()
    agreement.insert(words("the cat sat"))
    agreement.flush()
    agreement.insert(words("the cat sat on"))
    agreement.flush()  # committed "the cat sat", ends at 1.5 s
    agreement.drop_before(0.5)  # the buffer was cut after "the": "cat sat" are still in it
    # Whisper re-reads the words left in the buffer, timed a little late.
    retimed = words("cat sat on the mat", start=1.45, step=0.3)
    agreement.insert(retimed)
    assert texts(agreement.flush()) == "on"  # "cat sat" dropped; "on" agrees with before
    assert texts(agreement.committed) == "the cat sat on"
    assert texts(agreement.complete()) == "the mat"


def test_ngram_deduplication_prefers_the_longest_overlap():
    agreement = LocalAgreement()
    agreement.insert(words("x a b a y"))
    agreement.flush()
    agreement.insert(words("x a b a y"))
    agreement.flush()  # committed "x a b a", ends at 2.0 s
    agreement.insert(words("a b a c", start=1.95))  # a re-read of "a b a", then the new "c"
    assert agreement.flush() == []
    assert texts(agreement.complete()) == "c"


def test_no_deduplication_far_from_the_commit_point():
    agreement = LocalAgreement()
    agreement.insert(words("no no"))
    agreement.flush()
    agreement.insert(words("no no"))
    assert texts(agreement.flush()) == "no"
    agreement.insert(words("no means no", start=5.0))  # said again, seconds later: kept
    assert texts(agreement.flush()) == "no"  # (and it agrees with the previous tail)
    assert texts(agreement.committed) == "no no"
    assert texts(agreement.complete()) == "means no"


def test_commit_all_commits_the_latest_hypothesis():
    agreement = LocalAgreement()
    agreement.insert(words("is it a map"))
    agreement.flush()
    agreement.insert(words("is it a map showing"))
    agreement.flush()
    agreement.insert(words("is it a map showing Atlanta"))
    assert texts(agreement.commit_all()) == "showing Atlanta"
    assert agreement.complete() == []
    assert texts(agreement.committed) == "is it a map showing Atlanta"


def test_commit_all_without_a_new_hypothesis_commits_the_unconfirmed_tail():
    agreement = LocalAgreement()
    agreement.insert(words("hello world"))
    agreement.flush()
    assert texts(agreement.commit_all()) == "hello world"


def test_commit_prefix_forces_old_unconfirmed_words():
    agreement = LocalAgreement()
    agreement.insert(words("a b c d"))
    agreement.flush()
    assert texts(agreement.commit_prefix(2)) == "a b"
    assert texts(agreement.complete()) == "c d"


def test_flush_can_hold_commits_back():
    agreement = LocalAgreement()
    agreement.insert(words("International Trade"))
    agreement.flush()
    agreement.insert(words("International Trade will"))
    assert agreement.flush(commit_allowed=False) == []
    assert texts(agreement.complete()) == "International Trade will"


def test_word_key_ignores_case_and_punctuation_but_keeps_apostrophes():
    assert Word(0, 1, "France,").key == "france"
    assert Word(0, 1, "It's").key == "it's"
    assert Word(0, 1, "...").key == "..."  # nothing else to compare


def test_cut_loops_truncates_repeated_words_and_phrases():
    assert texts(cut_loops(words("it is true. True. True. True."))) == "it is true."
    assert texts(cut_loops(words("very very good"))) == "very very good"  # twice is speech
    loop = "tires and the road act on the car"
    looped = f"three forces {loop} {loop} tires and"
    assert texts(cut_loops(words(looped))) == f"three forces {loop}"
    assert texts(cut_loops(words("the normal force and the friction force"))) == (
        "the normal force and the friction force"
    )


def test_cut_loops_times_the_kept_copy_by_the_audio():
    """A question written twice over its audio (real tiny.en output, 2.7 s buffer): the first
    copy's last words and the second copy's first words got no time from the alignment."""
    first = [(0.0, 0.6, "When"), (0.6, 0.88, "does"), (0.88, 1.14, "the"), (1.14, 1.14, "farmer"),
             (1.14, 1.14, "harvest"), (1.14, 1.14, "the"), (1.14, 1.14, "crop?")]  # fmt: skip
    second = [(1.14, 1.14, "When"), (1.14, 1.14, "does"), (1.14, 1.2, "the"), (1.2, 1.32, "farmer"),
              (1.32, 1.8, "harvest"), (1.8, 2.2, "the"), (2.2, 2.4, "crop.")]  # fmt: skip
    kept = cut_loops([Word(*w) for w in first + second])
    assert texts(kept) == "When does the farmer harvest the crop?"  # the first copy's text
    assert [(w.start, w.end) for w in kept] == [
        (0.0, 0.6), (0.6, 0.88), (0.88, 1.14), (1.2, 1.32), (1.32, 1.8), (1.8, 2.2), (2.2, 2.4)
    ]  # fmt: skip
    # A loop past the end of the speech: its later copies got no time, the first copy keeps its.
    looped = [Word(0, 0.5, "It"), Word(0.5, 0.8, "is"), Word(0.8, 1.2, "true.")]
    looped += [Word(1.2, 1.2, "True.")] * 3
    assert [(w.start, w.end, w.text) for w in cut_loops(looped)] == [
        (0, 0.5, "It"), (0.5, 0.8, "is"), (0.8, 1.2, "true.")
    ]  # fmt: skip


def test_known_hallucinations():
    assert is_hallucination(" Thanks for watching!")
    assert is_hallucination("[Music]")
    assert is_hallucination("♪ la la ♪")
    assert not is_hallucination(" Thank you.")  # people say it
    assert not is_hallucination(" What is the capital of France?")


def test_within_keeps_words_overlapping_speech():
    ws = words("a b c d")  # 0-0.5, 0.5-1, 1-1.5, 1.5-2
    assert texts(within(ws, 0.6, 1.2)) == "b c"
