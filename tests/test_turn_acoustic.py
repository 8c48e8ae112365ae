"""Smart Turn v3.2 (the acoustic end-of-turn signal) on real piper speech."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from voice_livemind.bench.pause_set import SAMPLE_RATE, PiperSpeaker
from voice_livemind.turn.acoustic import SmartTurn


@pytest.fixture(scope="module")
def smart_turn():
    return SmartTurn()


@pytest.fixture(scope="module")
def piper():
    return PiperSpeaker()


def pause(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)


def test_a_finished_question_is_complete_and_a_cut_one_is_not(smart_turn, piper):
    finished = np.concatenate(
        [piper.speak("What is the largest planet in our solar system?"), pause(0.2)]
    )
    cut = np.concatenate([piper.speak("What is the largest planet in"), pause(0.2)])
    done, not_done = smart_turn.predict(finished), smart_turn.predict(cut)
    assert done.p_complete > 0.5 > not_done.p_complete
    assert done.compute_s > 0


def test_only_the_last_eight_seconds_are_heard(smart_turn, piper):
    question = np.concatenate(
        [piper.speak("What is the largest planet in our solar system?"), pause(0.2)]
    )
    long_lead = np.concatenate(
        [np.random.default_rng(0).normal(0, 0.1, 20 * SAMPLE_RATE), question]
    )
    padded = np.concatenate([pause(8.0), question])
    p_long = smart_turn.predict(long_lead.astype(np.float32)).p_complete
    p_padded = smart_turn.predict(padded).p_complete
    assert p_long == pytest.approx(smart_turn.predict(long_lead[-8 * SAMPLE_RATE :]).p_complete)
    assert p_padded == pytest.approx(smart_turn.predict(question).p_complete, abs=1e-5)


def test_no_audio_is_a_clear_error(smart_turn):
    with pytest.raises(ValueError, match="needs some audio"):
        smart_turn.predict(np.zeros(0, dtype=np.float32))


def test_pipecat_itself_is_not_imported(smart_turn):
    # Its package __init__ needs pipecat's own dependencies and patches asyncio.wait_for.
    assert "pipecat" not in sys.modules
