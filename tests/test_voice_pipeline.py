"""The voice pipeline end to end: real synthesised speech, real tiny.en, real TTS to a WAV.

The LLM is scripted in the fast tests (the pipeline's wiring is under test) and real vLLM in
the one real-time test, where LiveMind must start thinking before the speaker stops.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import wave

import pytest
from scripted_engine import ScriptedEngine, is_answer_prompt

from voice_livemind.asr.batching import DecodeBatcher
from voice_livemind.asr.decoder import WhisperDecoder
from voice_livemind.asr.models import load_whisper
from voice_livemind.asr.recognizer import RecognizerConfig, StreamingRecognizer, create_recognizer
from voice_livemind.asr.scheduler import DecodeScheduler
from voice_livemind.asr.wer import wer, word_errors
from voice_livemind.audio import ArraySource, SentenceSpeaker, SpeechSynthesizer, WavSink
from voice_livemind.audio.speech_samples import (
    concat,
    noise,
    silence,
    synthesize,
    with_silence,
    write_wav,
)
from voice_livemind.events import Clock, EventBus
from voice_livemind.livemind.config import SessionConfig
from voice_livemind.livemind.session import LiveMindSession
from voice_livemind.voice.pipeline import VoicePipeline

# Ordinary words: tiny.en mishears some of espeak's speech ("A train" -> "That rain").
QUESTION = (
    "A farmer plants seeds in the spring. The plants grow tall during the summer. "
    "When does the farmer harvest the crop?"
)


@pytest.fixture(scope="module")
def question_audio():
    return with_silence(synthesize(QUESTION), before=0.5, after=2.0)


async def run_pipeline(audio, engine, tmp_path=None, realtime=False, config=None, barge_in=True):
    clock, bus = Clock(), EventBus()
    events = bus.subscribe()
    speaker = None
    if tmp_path is not None:
        sink = WavSink(tmp_path / "answer.wav")
        speaker = SentenceSpeaker(SpeechSynthesizer(), sink, clock=clock, on_event=bus.publish)
    session = LiveMindSession(engine, config or SessionConfig(), bus=bus, clock=clock)
    pipeline = VoicePipeline(create_recognizer(), session, speaker, barge_in=barge_in)
    turns = await pipeline.run(aiter(ArraySource(audio, realtime=realtime)))
    await session.close()
    if speaker:
        speaker.sink.close()
    seen = []
    while not events.empty():
        seen.append(events.get_nowait())
    return turns, seen


async def test_spoken_question_is_transcribed_answered_and_spoken(question_audio, tmp_path):
    engine = ScriptedEngine()
    turns, events = await run_pipeline(question_audio, engine, tmp_path)
    assert len(turns) == 1
    turn = turns[0]
    assert wer(QUESTION, turn.transcript) < 0.3, turn.transcript
    assert turn.answer_text == "The answer is 42."
    assert turn.end_of_speech_to_first_audio_s is not None
    kinds = [e.type for e in events]
    for kind in ("speech_started", "words_committed", "speech_ended", "utterance_ended"):
        assert kind in kinds
    assert kinds.index("utterance_ended") < kinds.index("input_ended") < kinds.index("tts_done")
    with wave.open(str(tmp_path / "answer.wav")) as spoken:
        assert spoken.getnframes() / spoken.getframerate() > 0.5  # "The answer is 42." aloud
    # Committed words reached the session as they stabilised, before the utterance ended.
    fed = [e for e in events if e.type == "segment"]
    assert fed and fed[0].t < next(e.t for e in events if e.type == "utterance_ended")


@pytest.mark.parametrize("audio", [silence(4.0), noise(4.0, level=0.05)], ids=["silence", "noise"])
async def test_silence_and_noise_get_no_answer(audio):
    engine = ScriptedEngine()
    turns, events = await run_pipeline(audio, engine)
    assert turns == [] and engine.calls == []
    assert not [e for e in events if e.type in ("words_committed", "input_ended")]


OTHER_QUESTION = "Who wrote the famous play about a young prince of Denmark?"


async def run_recognition(audios, decoder, scheduler) -> list[list]:
    """One pipeline per audio, run concurrently, all through `scheduler` and one `decoder` (as
    the server runs them); each one's events."""

    async def one(audio):
        clock, bus = Clock(), EventBus()
        events = bus.subscribe()
        session = LiveMindSession(ScriptedEngine(), SessionConfig(), bus=bus, clock=clock)
        recognizer = StreamingRecognizer(decoder, RecognizerConfig())
        pipeline = VoicePipeline(recognizer, session, asr_scheduler=scheduler)
        await pipeline.run(aiter(ArraySource(audio, realtime=False)))
        await session.close()
        seen = []
        while not events.empty():
            seen.append(events.get_nowait())
        return seen

    return list(await asyncio.gather(*(one(audio) for audio in audios)))


def transcript(events) -> list[str]:
    return [e.text for e in events if e.type == "utterance_ended"]


@pytest.mark.parametrize("batch", [1, 4])
async def test_two_pipelines_through_one_scheduler_hear_what_each_hears_alone(
    question_audio, batch
):
    """Sharing the decoder changes when each stream decodes, nothing else: no audio or state
    crosses between streams, whether they take turns or (`batch` 4) run side by side in the
    scheduler's threads, their passes made in one Whisper call when they coincide (whether they
    do depends on timing; the gathering itself is tested in test_asr_batching.py). Where decodes
    fall already varies between two runs of one pipeline alone (replayed fast, the audio taken
    per decode depends on the worker's timing), and tiny.en may then hear a single word
    differently ("young" / "yon"): one edit per utterance is allowed."""
    audios = [question_audio, with_silence(synthesize(OTHER_QUESTION), before=1.0, after=2.0)]
    batcher = DecodeBatcher() if batch > 1 else None
    decoder = WhisperDecoder(load_whisper(), RecognizerConfig().decoder, batcher)
    scheduler = DecodeScheduler(batcher=batcher, batch=batch)
    try:
        shared = await run_recognition(audios, decoder, scheduler)
        ran_side_by_side = batcher is not None and batcher.passes > 0
        alone = [(await run_recognition([audio], decoder, scheduler))[0] for audio in audios]
    finally:
        scheduler.shutdown()
    assert ran_side_by_side or batcher is None
    for reference, together, by_itself in zip(
        [QUESTION, OTHER_QUESTION], shared, alone, strict=True
    ):
        assert len(transcript(together)) == len(transcript(by_itself)) == 1
        assert word_errors(transcript(by_itself)[0], transcript(together)[0]).edits <= 1
        assert wer(reference, transcript(together)[0]) < 0.3, transcript(together)
    # Together they took turns (some decodes waited for the other pipeline's), or ran side by
    # side.
    decodes = [e for events in shared for e in events if e.type == "asr_decoded"]
    assert ran_side_by_side or max(e.queued_s for e in decodes) > 0.05, decodes
    # How far behind the audio each result came: at least its own compute after the audio.
    assert all(e.behind_s is not None and e.behind_s >= e.compute_s for e in decodes), decodes


LONG_ANSWER = (
    "The answer is 42. The farmer harvests the crop in the autumn, when the plants are ripe and "
    "dry, and then the field rests until the next spring."
)


@pytest.mark.parametrize("barge_in", [True, False], ids=["full-duplex", "half-duplex"])
async def test_speech_during_the_answer_interrupts_it_only_with_barge_in(
    question_audio, tmp_path, barge_in
):
    """A microphone beside loudspeakers hears the answer (here: words spoken while it plays).
    With barge-in they cut the answer short; half duplex ignores them: one turn, spoken whole."""
    # The question's audio ends 2 s after its speech; the words come 1.6 s after the speech.
    question = question_audio[: len(question_audio) - round(0.4 * 16_000)]
    audio = concat(question, synthesize("Stop talking please."), silence(6.0))
    engine = ScriptedEngine(lambda messages, settings: (
        LONG_ANSWER if is_answer_prompt(messages) else "action inference. noted"))  # fmt: skip
    turns, events = await run_pipeline(audio, engine, tmp_path, realtime=True, barge_in=barge_in)
    kinds = [e.type for e in events]
    assert turns and turns[0].answer_text  # the question was answered either way
    if barge_in:
        assert "speech_interrupted" in kinds and kinds.count("speech_started") == 2
    else:
        assert "speech_interrupted" not in kinds and kinds.count("speech_started") == 1
        assert len(turns) == 1 and turns[0].answer_text == LONG_ANSWER


@pytest.mark.engine
async def test_livemind_thinks_before_the_speaker_stops(question_audio, model_dir):
    from voice_livemind.llm.vllm_engine import VllmEngine

    engine = await VllmEngine.start(model_dir)
    try:
        turns, seen = await run_pipeline(question_audio, engine, realtime=True)
    finally:
        await engine.close()
    assert len(turns) == 1 and turns[0].answer_text.strip()
    # LiveMind starts thinking while the question is still being spoken. Whether an inference
    # also *finishes* before the end of speech (`inferences_before_speech_end`) depends on the
    # machine's speed: the spoken benchmark measures it.
    kinds = [e.type for e in seen]
    assert "inference_started" in kinds[: kinds.index("utterance_ended")]
    assert turns[0].end_of_speech_to_answer_s > 0


@pytest.mark.engine
def test_replay_command_json(question_audio, tmp_path):
    path = tmp_path / "question.wav"
    write_wav(path, question_audio)
    done = subprocess.run(
        [sys.executable, "-m", "voice_livemind.cli", "replay", str(path), "--json",
         "--speak-to", str(tmp_path / "spoken.wav"), "--log", str(tmp_path / "log.jsonl")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    output = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(output["turns"]) == 1
    result = output["turns"][0]
    for key in ("transcript", "answer_text", "speech_end_s",
                "inferences_before_speech_end", "end_of_speech_to_answer_s",
                "end_of_speech_to_first_audio_s"):  # fmt: skip
        assert key in result
    assert wer(QUESTION, result["transcript"]) < 0.3
    assert result["end_of_speech_to_first_audio_s"] is not None
    assert (tmp_path / "spoken.wav").stat().st_size > 10_000
    kinds = {json.loads(line)["type"] for line in (tmp_path / "log.jsonl").read_text().splitlines()}
    assert {"speech_ended", "utterance_ended", "answer_done", "tts_first_audio"} <= kinds


def test_replay_of_a_missing_file_is_a_one_line_error(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "voice_livemind.cli", "replay", str(tmp_path / "none.wav")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1
    assert lines[0].startswith("voice-livemind: error:") and "none.wav" in lines[0]


def test_audio_arrivals_place_speech_on_the_clock_across_breaks_in_the_audio():
    from voice_livemind.voice.metrics import AudioArrivals

    arrivals = AudioArrivals()
    for i in range(10):  # 1 s of audio in real time, arriving at clock 5.1 ... 6.0
        arrivals.record(0.1, 5.1 + i / 10)
    for i in range(10):  # the client stopped for a minute, then another second of audio
        arrivals.record(0.1, 66.1 + i / 10)
    assert arrivals.clock_time(0.55) == pytest.approx(5.55)
    assert arrivals.clock_time(1.5) == pytest.approx(66.5)  # not 6.5: the break is counted
    assert arrivals.clock_time(2.3) == pytest.approx(67.3)  # past the end: the last frame's rate


async def test_with_endpointing_a_finished_question_ends_the_turn_before_the_full_silence():
    from voice_livemind.asr.recognizer import RecognizerConfig
    from voice_livemind.asr.vad import VadConfig
    from voice_livemind.audio.speech_samples import trim_silence
    from voice_livemind.turn.fusion import EndpointingConfig

    endpointing = EndpointingConfig()  # full silence 1.5 s; a finished question 0.6 s or less
    question = trim_silence(synthesize("When does the farmer harvest the wheat?"))
    more = trim_silence(synthesize("I would like to know the month."))
    audio = with_silence(concat(question, silence(1.0), more), before=0.5, after=2.0)
    turns_by_setting = []
    for setting in (None, endpointing):
        vad = VadConfig(min_silence_s=endpointing.full_silence_s)
        recognizer = create_recognizer(None, RecognizerConfig(vad=vad))
        session = LiveMindSession(ScriptedEngine(), SessionConfig())
        pipeline = VoicePipeline(recognizer, session, endpointing=setting)
        # In real time: each chunk is a frame, so every moment of the pause is looked at.
        turns_by_setting.append(await pipeline.run(aiter(ArraySource(audio, realtime=True))))
        await session.close()
    silence_only, fused = turns_by_setting
    assert len(silence_only) == 1  # 1.0 s of silence is no end for the 1.5 s fallback
    assert len(fused) == 2, [t.transcript for t in fused]  # the question ended its own turn
    assert "farmer" in fused[0].transcript and "month" in fused[1].transcript
