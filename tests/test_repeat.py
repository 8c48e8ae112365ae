"""Asking the user to repeat: Whisper's confidence through the recogniser, the pipeline's
decision, the session forgetting the turn, the protocol message.

Real tiny.en on real synthesised speech (piper) for the recogniser and the pipeline; the LLM
is scripted (the decision and its wiring are under test, not the answer).
"""

from __future__ import annotations

import asyncio
import json
import wave

import pytest
from scripted_engine import ScriptedEngine, drain, is_answer_prompt, wait_until

from voice_livemind.asr.agreement import Word
from voice_livemind.asr.confidence import TranscriptConfidence, transcript_confidence
from voice_livemind.asr.events import UtteranceEnded, WordsCommitted
from voice_livemind.asr.recognizer import create_recognizer
from voice_livemind.audio import ArraySource, SentenceSpeaker, SpeechSynthesizer, WavSink
from voice_livemind.audio.speech_samples import synthesize, with_silence
from voice_livemind.cli.main import build_parser
from voice_livemind.cli.options import repeat_config
from voice_livemind.events import Clock, EventBus, InferenceAborted
from voice_livemind.livemind.config import SessionConfig
from voice_livemind.livemind.session import LiveMindSession
from voice_livemind.server.protocol import event_message
from voice_livemind.server.wires import PcmWire
from voice_livemind.voice.pipeline import VoicePipeline
from voice_livemind.voice.repeat import REPEAT_LINE, RepeatConfig, RepeatRequested

QUESTION = (
    "A farmer plants seeds in the spring. The plants grow tall during the summer. "
    "When does the farmer harvest the crop?"
)


@pytest.fixture(scope="module")
def clean_audio():
    return with_silence(synthesize(QUESTION), before=0.5, after=2.0)


@pytest.fixture(scope="module")
def reversed_audio():
    """The same question played backwards: speech-like sound with no words in it, for which
    tiny.en still writes a transcript."""
    return with_silence(synthesize(QUESTION)[::-1].copy(), before=0.5, after=2.0)


def utterance(confidence: float, text: str = "Cyclist rides twelve K") -> UtteranceEnded:
    return UtteranceEnded(t=1.0, text=text, audio_t=0.9, start_t=0.1, confidence=confidence)


# -- the decision, on hand-made figures -------------------------------------------------------


def test_transcript_confidence_sums_up_word_probabilities():
    assert transcript_confidence([0.9, 0.8, 0.4, 0.3]) == TranscriptConfidence(
        words=4, mean_probability=pytest.approx(0.6), low_share=0.5
    )
    assert transcript_confidence([]) == TranscriptConfidence(0, 1.0, 0.0)


def test_a_word_is_certain_unless_whisper_says_otherwise():
    assert Word(0.0, 0.5, "farmer").probability == 1.0
    assert Word(0.0, 0.5, "farmer", 0.4).shifted(2.0).probability == 0.4


def test_an_utterance_below_the_threshold_needs_a_repeat():
    check = RepeatConfig(min_confidence=0.6)
    assert check.needs_repeat(utterance(0.59))
    assert not check.needs_repeat(utterance(0.6))
    assert not check.needs_repeat(utterance(0.95))


def test_a_word_or_two_is_answered_however_unsure_whisper_is():
    check = RepeatConfig(min_confidence=0.6, min_words=3)
    assert not check.needs_repeat(utterance(0.38, "Stop."))
    assert not check.needs_repeat(utterance(0.4, "Yes, please."))
    assert check.needs_repeat(utterance(0.4, "I'm too much,"))


@pytest.mark.parametrize("command", [["demo"], ["replay", "q.wav"], ["listen"], ["serve"]])
def test_the_assistant_commands_take_the_threshold(command):
    assert repeat_config(build_parser().parse_args(command)) == RepeatConfig()
    args = build_parser().parse_args([*command, "--repeat-below", "0.3"])
    assert repeat_config(args).min_confidence == 0.3


@pytest.mark.parametrize("value", ["-0.1", "1.5"])
def test_a_threshold_outside_zero_to_one_is_a_clear_error(value):
    args = build_parser().parse_args(["replay", "q.wav", "--repeat-below", value])
    with pytest.raises(ValueError, match="--repeat-below must be between 0 and 1"):
        repeat_config(args)


def test_the_repeat_request_round_trips_through_the_protocol():
    request = RepeatRequested(
        t=2.5, turn=3, text="Say no you don't", confidence=0.31, threshold=0.6, line=REPEAT_LINE
    )
    message = json.loads(event_message(request))
    assert message == {
        "type": "repeat_requested",
        "t": 2.5,
        "turn": 3,
        "text": "Say no you don't",
        "confidence": 0.31,
        "threshold": 0.6,
        "line": REPEAT_LINE,
    }
    fields = {k: v for k, v in message.items() if k != "type"}
    assert RepeatRequested(**fields) == request


# -- the session forgets the turn -------------------------------------------------------------


def echo_inferences(messages, settings) -> str:
    if is_answer_prompt(messages):
        return "The answer is 42."
    return f"action inference. saw {messages[-1]['content'].strip()}"


async def test_a_discarded_turn_leaves_nothing_for_the_next_one():
    engine = ScriptedEngine(echo_inferences)
    session = LiveMindSession(engine, SessionConfig(min_segment_chars=0))
    events = session.bus.subscribe()
    garbled = "Cyclist rides twelve K end library. Away from foam. "
    session.feed(garbled)
    await wait_until(lambda: session.memory.steps and not engine.in_flight)
    engine.hold(only=lambda messages: not is_answer_prompt(messages))
    session.feed("The Omo runs wide. ")
    await wait_until(lambda: engine.in_flight)
    (in_flight,) = engine.in_flight
    assert session.speculate()  # an answer prepared in a pause goes too
    await session.discard_turn("repeat requested")
    engine.release()
    published = drain(events)
    aborted = [e for e in published if isinstance(e, InferenceAborted)]
    assert [(e.call_id, e.reason) for e in aborted] == [(in_flight, "repeat requested")]
    assert any(e.type == "speculation_discarded" for e in published)
    assert session.turn == 1 and session.text == "" and session.memory.steps == ()
    assert session.history == []

    session.feed("When does the farmer harvest the crop?")
    result = await session.end()
    assert result.turn == 1 and result.inferences == []
    (answer,) = [c for c in engine.answer_calls if c.request_id.endswith("-t1-answer")]
    assert "Cyclist" not in json.dumps(answer.messages) and "Omo" not in json.dumps(answer.messages)


async def test_a_turn_being_answered_cannot_be_discarded():
    engine = ScriptedEngine()
    engine.hold()
    session = LiveMindSession(engine, SessionConfig())
    session.feed("What is the capital of France?")
    answering = asyncio.create_task(session.end())
    await wait_until(lambda: engine.in_flight)
    with pytest.raises(RuntimeError, match="being answered"):
        await session.discard_turn("repeat requested")
    engine.release()
    await answering


# -- real speech through the recogniser and the pipeline --------------------------------------


async def run_pipeline(audio, tmp_path, repeat: RepeatConfig | None):
    clock, bus = Clock(), EventBus()
    events = bus.subscribe()
    sink = WavSink(tmp_path / "spoken.wav")
    speaker = SentenceSpeaker(SpeechSynthesizer(), sink, clock=clock, on_event=bus.publish)
    engine = ScriptedEngine()
    session = LiveMindSession(engine, SessionConfig(), bus=bus, clock=clock)
    pipeline = VoicePipeline(create_recognizer(), session, speaker, repeat=repeat)
    turns = await pipeline.run(aiter(ArraySource(audio, realtime=False)))
    await session.close()
    sink.close()
    return pipeline, turns, engine, session, drain(events)


def spoken_seconds(path) -> float:
    with wave.open(str(path)) as spoken:
        return spoken.getnframes() / spoken.getframerate()


def test_committed_words_carry_whisper_probabilities(clean_audio):
    recognizer = create_recognizer()
    events = recognizer.feed(clean_audio) + recognizer.finish()
    words = [w for e in events if isinstance(e, WordsCommitted) for w in e.words]
    assert words and all(0.0 < p <= 1.0 for _s, _e, _t, p in words)
    assert len({p for *_rest, p in words}) > 1  # Whisper's own figures, not the default 1.0
    (ended,) = [e for e in events if isinstance(e, UtteranceEnded)]
    assert ended.confidence == pytest.approx(sum(p for *_r, p in words) / len(words))


async def test_a_clean_question_is_answered(clean_audio, tmp_path):
    pipeline, turns, engine, _session, events = await run_pipeline(
        clean_audio, tmp_path, RepeatConfig()
    )
    (ended,) = [e for e in events if isinstance(e, UtteranceEnded)]
    assert ended.confidence >= RepeatConfig().min_confidence, ended
    assert pipeline.repeats == [] and len(turns) == 1
    assert engine.answer_calls


async def test_an_unintelligible_utterance_is_not_answered_but_asked_again(
    reversed_audio, tmp_path
):
    pipeline, turns, engine, session, events = await run_pipeline(
        reversed_audio, tmp_path, RepeatConfig()
    )
    (ended,) = [e for e in events if isinstance(e, UtteranceEnded)]
    assert ended.text.strip()  # Whisper did write words for it
    (request,) = pipeline.repeats
    assert request.text.strip() == ended.text.strip()
    assert request.confidence == pytest.approx(ended.confidence, abs=1e-4)
    assert request.confidence < request.threshold == RepeatConfig().min_confidence
    assert turns == [] and session.history == [] and session.turn == 1 and session.text == ""
    kinds = [e.type for e in events]
    assert "input_ended" not in kinds and "answer_started" not in kinds
    # Only answers prepared in a pause reached the engine, and the request dropped them.
    prepared = {e.call_id for e in events if e.type == "speculation_started"}
    assert {c.request_id for c in engine.answer_calls} <= prepared
    dropped = {e.call_id: e.reason for e in events if e.type == "speculation_discarded"}
    assert all(dropped.get(call_id) for call_id in prepared)
    assert (
        kinds.index("utterance_ended") < kinds.index("repeat_requested") < kinds.index("tts_done")
    )
    assert spoken_seconds(tmp_path / "spoken.wav") > 1.0  # the line was said aloud


async def test_with_the_check_off_the_same_utterance_is_answered(reversed_audio, tmp_path):
    pipeline, turns, engine, _session, _events = await run_pipeline(
        reversed_audio, tmp_path, RepeatConfig(min_confidence=0.0)
    )
    assert pipeline.repeats == [] and len(turns) == 1 and engine.answer_calls


def test_replay_json_lists_the_utterances_not_answered(capsys):
    from voice_livemind.cli.voice import _report

    request = RepeatRequested(
        t=4.0, turn=0, text="Say no you don't", confidence=0.31, threshold=0.6, line=REPEAT_LINE
    )
    args = build_parser().parse_args(["replay", "q.wav", "--json"])
    _report(args, None, [], [request])
    report = json.loads(capsys.readouterr().out)
    assert report["turns"] == []
    assert report["repeats"] == [request.to_dict()]


def test_the_terminal_shows_why_the_turn_was_not_answered():
    from rich.console import Console

    from voice_livemind.cli.console import TerminalView

    view = TerminalView(Console(record=True, width=200))
    view.show(
        RepeatRequested(t=4.0, turn=0, text="Say no", confidence=0.31, threshold=0.6, line="Again?")
    )
    shown = view.console.export_text()
    assert "too uncertain (confidence 0.31 < 0.60): not answered" in shown
    assert "Assistant: Again?" in shown


def test_the_pcm_wire_tells_a_harness_what_the_assistant_said_instead():
    request = RepeatRequested(
        t=4.0, turn=0, text="Say no", confidence=0.31, threshold=0.6, line=REPEAT_LINE
    )
    message = json.loads(PcmWire().event(request))
    assert message == {"type": "transcript", "role": "agent", "text": REPEAT_LINE, "final": True}
