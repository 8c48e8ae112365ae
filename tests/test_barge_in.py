"""Barge-in needs evidence of speech: noise and coughs during an answer do not stop it, speech
does. Real Silero on real synthesised speech, white noise and a synthetic cough; the pipeline
test adds real Whisper and real TTS (the LLM is scripted: the decision is under test)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from scripted_engine import ScriptedEngine, is_answer_prompt

from voice_livemind.asr.recognizer import create_recognizer
from voice_livemind.audio import ArraySource, SentenceSpeaker, SpeechSynthesizer, WavSink
from voice_livemind.audio.speech_samples import (
    concat,
    noise,
    silence,
    synthesize,
    trim_silence,
    with_silence,
)
from voice_livemind.events import Clock, EventBus
from voice_livemind.livemind.config import SessionConfig
from voice_livemind.livemind.session import LiveMindSession
from voice_livemind.voice.barge_in import BargeInDetector
from voice_livemind.voice.pipeline import VoicePipeline

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks" / "voicebench"))
from sounds import cough

RATE = 16_000
FRAME = 320  # 20 ms, as a voice client sends


def first_detection_s(audio: np.ndarray) -> float | None:
    """Stream position (s) of the frame after which the detector hears speech, if any."""
    detector = BargeInDetector()
    for i in range(0, len(audio), FRAME):
        if detector.hears_speech(audio[i : i + FRAME]):
            return (i + FRAME) / RATE
    return None


@pytest.mark.parametrize(
    "sound",
    [
        pytest.param(lambda: noise(6.0, level=0.1), id="white-noise-loud"),
        pytest.param(lambda: noise(6.0, level=0.01, seed=3), id="white-noise-quiet"),
        pytest.param(lambda: concat(cough(0), silence(0.5), cough(1, level=0.9)), id="coughs"),
        pytest.param(lambda: silence(2.0), id="silence"),
    ],
)
def test_noise_and_coughs_are_no_evidence_of_speech(sound):
    assert first_detection_s(with_silence(sound(), before=0.5, after=0.5)) is None


@pytest.mark.parametrize(
    ("words", "within_s"),
    [
        ("Wait, please stop a moment.", 0.1),  # voiced from the first sound
        ("Hold on a second.", 0.15),  # a breathy /h/ first
        ("Stop, please wait a moment.", 0.2),  # an unvoiced /s/ first: Silero waits for /t/-/o/
    ],
)
def test_speech_is_heard_soon_after_its_onset(words, within_s):
    audio = with_silence(trim_silence(synthesize(words, voice="espeak")), before=0.5, after=0.5)
    heard = first_detection_s(audio)
    # Audio positions, not wall time: two voiced Silero windows, heard 20 ms at a time (espeak:
    # the onsets above are espeak's; piper's soft onsets come a window or two later).
    assert heard is not None and 0.5 < heard <= 0.5 + within_s


def test_reset_forgets_what_was_heard():
    detector = BargeInDetector()
    speech = trim_silence(synthesize("Wait, please stop a moment."))
    assert any(detector.hears_speech(speech[i : i + FRAME]) for i in range(0, len(speech), FRAME))
    detector.reset()
    assert not detector.hears_speech(silence(0.5))


LONG_ANSWER = (
    "The answer is 42. The farmer harvests the crop in the autumn, when the plants are ripe and "
    "dry, and then the field rests until the next spring. The soil recovers over the winter."
)
QUESTION = (
    "A farmer plants seeds in the spring. The plants grow tall during the summer. "
    "When does the farmer harvest the crop?"
)


async def answer_with_sound_during_it(sound: np.ndarray, tmp_path: Path) -> list:
    """The question, then `sound` 1.6 s after its speech (the answer is being spoken then)."""
    question = with_silence(synthesize(QUESTION), before=0.5, after=1.6)
    audio = concat(question, sound, silence(8.0))
    clock, bus = Clock(), EventBus()
    events = bus.subscribe()
    speaker = SentenceSpeaker(
        SpeechSynthesizer(), WavSink(tmp_path / "answer.wav"), clock=clock, on_event=bus.publish
    )
    engine = ScriptedEngine(lambda messages, settings: (
        LONG_ANSWER if is_answer_prompt(messages) else "action inference. noted"))  # fmt: skip
    session = LiveMindSession(engine, SessionConfig(), bus=bus, clock=clock)
    pipeline = VoicePipeline(create_recognizer(), session, speaker)
    await pipeline.run(aiter(ArraySource(audio, realtime=True)))
    await session.close()
    speaker.sink.close()
    seen = []
    while not events.empty():
        seen.append(events.get_nowait())
    return seen


async def test_noise_and_a_cough_during_the_answer_do_not_stop_it(tmp_path):
    sound = concat(noise(3.0, level=0.1), silence(0.5), cough(0), cough(1, level=0.9))
    events = await answer_with_sound_during_it(sound, tmp_path)
    kinds = [e.type for e in events]
    assert "tts_first_audio" in kinds and "speech_interrupted" not in kinds
    done = next(e for e in events if e.type == "answer_done")
    assert done.finish_reason != "interrupted" and done.text == LONG_ANSWER
    assert kinds.count("utterance_ended") == 1  # the noise made no turn


async def test_speech_during_the_answer_stops_it(tmp_path):
    events = await answer_with_sound_during_it(synthesize("Wait, stop talking please."), tmp_path)
    kinds = [e.type for e in events]
    assert "speech_interrupted" in kinds
    interrupted = next(e for e in events if e.type == "speech_interrupted")
    # The voice stopped it, before the recogniser's VAD (0.25 s of speech) started an utterance.
    started = [e for e in events if e.type == "speech_started"]
    assert len(started) == 2 and interrupted.t < started[1].t
