"""The streaming VAD gate on synthesised speech, silence and noise (Silero ONNX, fast)."""

from __future__ import annotations

import numpy as np
import pytest

from voice_livemind.asr.vad import StreamingVad, VadConfig
from voice_livemind.audio.speech_samples import (
    SAMPLE_RATE,
    concat,
    noise,
    silence,
    synthesize,
    trim_silence,
    with_silence,
)


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
