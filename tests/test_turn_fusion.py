"""The end-of-turn fusion: pure logic over plain signal values."""

from __future__ import annotations

import pytest

from voice_livemind.turn.fusion import (
    EndpointingConfig,
    TurnEvidence,
    required_silence,
)
from voice_livemind.turn.livemind_state import LiveMindState
from voice_livemind.turn.transcript import transcript_signals

CFG = EndpointingConfig(short_silence_s=0.2, medium_silence_s=0.6, full_silence_s=1.5)
QUESTION = "Which planet is the largest?"
ALL_READ = "Which planet is the largest? Options. A, Mars. B, Venus. C, Earth. D, Jupiter."
READY = LiveMindState(question_complete=True, answer_ready=True)


def silence(text=None, p=None, state=None) -> float:
    evidence = TurnEvidence(
        p_complete=p,
        transcript=transcript_signals(text) if text is not None else None,
        livemind=state,
    )
    return required_silence(evidence, CFG).silence_s


def test_no_signal_waits_the_full_silence():
    assert silence() == CFG.full_silence_s


@pytest.mark.parametrize(
    ("text", "p", "state"),
    [
        (ALL_READ, 0.9, None),  # options all read + acoustic
        (QUESTION, 0.9, None),  # question mark + acoustic
        (ALL_READ, 0.1, READY),  # text + LiveMind, whatever the audio model says
        ("Which planet, in your view", 0.9, READY),  # acoustic + LiveMind, no punctuation yet
    ],
)
def test_two_agreeing_signals_end_after_the_short_silence(text, p, state):
    assert silence(text, p, state) == CFG.short_silence_s


@pytest.mark.parametrize(
    ("text", "p", "state"),
    [
        (QUESTION, None, None),  # text alone, no audio model
        (None, 0.9, None),  # audio model alone
        (None, None, READY),  # LiveMind alone
        (None, 0.2, READY),  # LiveMind, the audio model disagreeing
        (ALL_READ, 0.2, None),  # every option read, the audio model disagreeing
    ],
)
def test_one_signal_ends_after_the_medium_silence(text, p, state):
    assert silence(text, p, state) == CFG.medium_silence_s


@pytest.mark.parametrize(
    ("text", "p", "state"),
    [
        # Options announced, not all read: no other signal can end the turn.
        ("Which planet is the largest? Options.", 0.95, READY),
        ("Which planet is the largest? Options. A, Mars. B.", 0.95, READY),
        ("Which of the following is largest?", 0.95, READY),  # its options are still to come
        ("The capital of, um.", 0.95, READY),  # a trailing filler
        ("It goes to the", 0.95, READY),  # a sentence that stops on "the"
        (QUESTION, 0.95, LiveMindState(question_complete=False)),  # LiveMind: more is coming
        (QUESTION, 0.2, None),  # a question mark, the audio model objecting
    ],
)
def test_an_objection_waits_the_full_silence(text, p, state):
    assert silence(text, p, state) == CFG.full_silence_s


def test_an_answer_not_ready_is_no_livemind_vote():
    not_ready = LiveMindState(question_complete=True, answer_ready=False)
    assert silence(None, None, not_ready) == CFG.full_silence_s


def test_more_options_expected():
    five = EndpointingConfig(expected_options=5)
    evidence = TurnEvidence(p_complete=0.9, transcript=transcript_signals(ALL_READ))
    assert required_silence(evidence, five).silence_s == five.full_silence_s


def test_the_reason_names_the_signals():
    evidence = TurnEvidence(p_complete=0.9, transcript=transcript_signals(ALL_READ))
    assert required_silence(evidence, CFG).reason == "acoustic + text"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"short_silence_s": 0.0},
        {"short_silence_s": 0.7, "medium_silence_s": 0.6},
        {"medium_silence_s": 2.0, "full_silence_s": 1.5},
        {"acoustic_threshold": 1.5},
    ],
)
def test_bad_config_is_a_clear_error(kwargs):
    with pytest.raises(ValueError, match="must"):
        EndpointingConfig(**kwargs)
