"""The streaming VAD gate on synthesised speech, silence and noise (Silero ONNX, fast)."""

from __future__ import annotations

import numpy as np
import pytest
from speech import SAMPLE_RATE, concat, noise, silence, synthesize, trim_silence, with_silence

from voice_livemind.asr.vad import StreamingVad, VadConfig


@pytest.fixture(scope="module")
def sentence():
    return trim_silence(synthesize("What is the largest planet in our solar system?"))


def run(vad: StreamingVad, audio: np.ndarray, chunk: int = 480):
    out = []
    for i in range(0, len(audio), chunk):
        out.extend(vad.feed(audio[i : i + chunk]))
    return out


def test_speech_starts_and_ends_around_the_spoken_words(sentence):
    audio = with_silence(sentence, before=1.0, after=1.5)
    transitions = run(StreamingVad(), audio)
    assert [t.kind for t in transitions] == ["start", "end"]
    start, end = transitions
    speech_end = 1.0 + len(sentence) / SAMPLE_RATE
    assert 0.6 <= start.t <= 1.2
    assert abs(end.t - speech_end) < 0.4
    # The end is decided once min_silence_s of silence has been heard, not before.
    assert end.decided_t - end.t == pytest.approx(0.6, abs=0.05)


def test_chunk_size_does_not_change_decisions(sentence):
    audio = with_silence(sentence, before=0.5, after=1.0)
    by_window = run(StreamingVad(), audio, chunk=512)
    by_odd_chunks = run(StreamingVad(), audio, chunk=333)
    whole = StreamingVad().feed(audio)
    assert by_window == by_odd_chunks == whole


def test_silence_and_noise_are_not_speech():
    for audio in (silence(3.0), noise(3.0, level=0.05), noise(3.0, level=0.2, seed=1)):
        vad = StreamingVad()
        assert run(vad, audio) == [] and not vad.in_speech


def test_short_pause_does_not_end_speech_but_reports_trailing_silence(sentence):
    vad = StreamingVad(VadConfig(min_silence_s=0.6))
    run(vad, concat(silence(0.3), sentence, silence(0.4)))
    assert vad.in_speech
    assert 0.2 <= vad.trailing_silence_s <= 0.5
    assert vad.silence_start_t == pytest.approx(vad.processed_t - vad.trailing_silence_s)
    transitions = run(vad, concat(sentence, silence(1.0)))
    assert [t.kind for t in transitions] == ["end"]


def test_flush_closes_open_speech(sentence):
    vad = StreamingVad()
    run(vad, with_silence(sentence, before=0.5))
    assert vad.in_speech
    (end,) = vad.flush()
    assert end.kind == "end" and not vad.in_speech


# -- issue 20: a pause that ends in a soft onset --------------------------------------------------


def scripted(probabilities: list[float], config: VadConfig | None = None) -> list:
    """Transitions for a VAD whose Silero probabilities are `probabilities`, one per window."""
    vad = StreamingVad(config)
    script = iter(probabilities)
    vad._probabilities = lambda windows: np.array([next(script) for _ in windows])
    return vad.feed(np.zeros(512 * len(probabilities), dtype=np.float32))


WINDOW_S = 512 / SAMPLE_RATE
SPEECH, UNSURE, QUIET = 0.9, 0.45, 0.05  # at threshold, between the thresholds, below both


def test_unconfirmed_sound_late_in_a_pause_holds_the_end_until_confirmed():
    # 0.51 s of silence, then 0.19 s between the thresholds (past min_silence_s), then speech.
    transitions = scripted([SPEECH] * 20 + [QUIET] * 16 + [UNSURE] * 6 + [SPEECH] * 20)
    assert [t.kind for t in transitions] == ["start"]


def test_unconfirmed_sound_that_falls_silent_is_not_counted_as_silence():
    transitions = scripted([SPEECH] * 20 + [QUIET] * 16 + [UNSURE] * 4 + [QUIET] * 4)
    assert [t.kind for t in transitions] == ["start", "end"]
    end = transitions[1]
    assert end.t == pytest.approx(20 * WINDOW_S)
    # Decided on a silent window, once 19 silent windows (0.608 s) have been counted.
    assert end.decided_t == pytest.approx((20 + 16 + 4 + 3) * WINDOW_S)


def test_unconfirmed_sound_is_waited_for_at_most_min_speech_s():
    transitions = scripted([SPEECH] * 20 + [QUIET] * 16 + [UNSURE] * 30)
    assert [t.kind for t in transitions] == ["start", "end"]
    end = transitions[1]
    assert end.t == pytest.approx(20 * WINDOW_S)
    assert end.decided_t == pytest.approx((36 + 8) * WINDOW_S)  # 8 windows: 0.256 s >= 0.25 s


@pytest.fixture(scope="module")
def piper():
    from voice_livemind.bench.pause_set import PiperSpeaker

    return PiperSpeaker()


def soft_resumption(piper, gap_s: float) -> np.ndarray:
    """A neural voice says "Options: A.", pauses `gap_s`, and goes on with a soft onset: the
    first 0.2 s of the next word at 3% of its level (a breathy start), then the word."""
    first = piper.speak("Which gas is the lightest of all? Options: A.")
    rest = piper.speak("Hydrogen. B, oxygen.")
    return concat(silence(0.5), first, silence(gap_s), rest[:3200] * 0.03, rest, silence(1.0))


@pytest.mark.parametrize("gap_s", [0.41, 0.42, 0.44, 0.45])
def test_a_pause_before_a_soft_onset_does_not_end_speech(piper, gap_s):
    # Issue 20: the end was decided on a window of the onset, below `threshold` but above
    # `neg_threshold`, and the resumed speech then started 0.2 s (start_pad_s) before that.
    transitions = run(StreamingVad(), soft_resumption(piper, gap_s))
    assert [t.kind for t in transitions] == ["start", "end"]


def test_end_pause_ends_speech_where_the_pause_began():
    vad = StreamingVad()
    assert vad.end_pause() == []  # not in speech
    scripted_probs = [SPEECH] * 20 + [QUIET] * 5
    script = iter(scripted_probs)
    vad._probabilities = lambda windows: np.array([next(script) for _ in windows])
    vad.feed(np.zeros(512 * 20, dtype=np.float32))
    assert vad.end_pause() == []  # in speech, but no pause yet
    vad.feed(np.zeros(512 * 5, dtype=np.float32))
    (end,) = vad.end_pause()
    assert end.kind == "end" and end.t == pytest.approx(20 * WINDOW_S)
    assert end.decided_t == pytest.approx(25 * WINDOW_S)
    assert not vad.in_speech and vad.end_pause() == []
