"""Spoken result lines from event streams: the clock of the audio, stages, WER, counts."""

from __future__ import annotations

import pytest

from voice_livemind.asr.events import SpeechEnded, UtteranceEnded, WordsCommitted
from voice_livemind.audio.events import AudioStarted, TtsFirstAudio
from voice_livemind.bench.datasets import Question
from voice_livemind.bench.spoken import SpokenQuestion, spoken_text
from voice_livemind.bench.spoken_record import build_spoken_record, first_sentence_t, stage_times
from voice_livemind.events import (
    AnswerDelta,
    AnswerDone,
    AnswerFirstToken,
    AnswerStarted,
    InferenceDone,
    InferenceStarted,
    InputEnded,
    SpeculationDiscarded,
    SpeculationStarted,
    TokenCounts,
)

Q = Question("q1", "mmlu", "astronomy", "Which planet is red?", ("Mars", "Venus"), "A")
ITEM = SpokenQuestion(Q, spoken_text(Q))


def turn_events():
    # The source started 0.5 s after the clock: audio time 0 is clock time 0.5.
    return [
        AudioStarted(t=0.52, audio_t=0.02),
        InferenceStarted(t=2.0, call_id="i0", new_text="Which planet is red? "),
        WordsCommitted(
            t=2.1, words=(), text="Which planet is red? Options.", committed_text="", reason="pause"
        ),
        InferenceDone(
            t=3.0,
            call_id="i0",
            action="inference",
            text="a planet",
            valid=True,
            tokens=TokenCounts(generated_tokens=7),
        ),
        SpeculationStarted(t=3.5, call_id="s1", text="Which planet"),
        SpeculationDiscarded(t=3.6, call_id="s1", reason="speech resumed", generated_chars=0),
        SpeculationStarted(t=4.8, call_id="s2", text="..."),
        SpeechEnded(t=5.2, audio_t=4.0),  # speech ended at clock 4.5
        UtteranceEnded(
            t=5.2, text="Which planet is red? Options. A, Mars. Be Venus.", audio_t=4.0, start_t=0.3
        ),
        InputEnded(t=5.2, text="...", in_flight=False),
        AnswerStarted(t=5.2, call_id="s2", mode="livemind", speculative=True),
        AnswerFirstToken(t=5.25, call_id="s2"),
        AnswerDelta(t=5.25, text="The answer"),
        AnswerDelta(t=5.3, text=" is (A). Mars"),
        TtsFirstAudio(t=5.4, text="The answer is (A).", audio_s=1.2),
        AnswerDone(
            t=5.6,
            call_id="s2",
            text="The answer is (A). Mars is red.",
            finish_reason="stop",
            tokens=TokenCounts(generated_tokens=12),
        ),
    ]


def test_a_record_is_measured_from_the_end_of_speech_on_the_pipeline_clock():
    record = build_spoken_record(ITEM, "livemind", {"format": "u-spi"}, turn_events(), 4.2, 0.6)
    assert record["speech_end_s"] == 4.5
    assert record["speech_end_to_utterance_end_s"] == pytest.approx(0.7)
    assert record["speech_end_to_first_token_s"] == pytest.approx(0.75)
    assert record["speech_end_to_first_audio_s"] == pytest.approx(0.9)
    assert record["speech_end_to_answer_s"] == pytest.approx(1.1)
    assert record["stages_s"] == pytest.approx(
        {"endpointing": 0.6, "asr": 0.1, "llm": 0.1, "tts": 0.1}
    )
    assert record["correct"] and record["predicted"] == "A"
    # "Be" for "B" is one substitution in the 9 words said
    assert (record["wer_edits"], record["wer_words"]) == (1, 9)
    assert record["inferences_before_speech_end"] == 1
    assert record["tokens_after_speech_end"] == 12  # the inference finished before
    assert (record["speculations"], record["speculations_discarded"]) == (2, 1)
    assert record["speculative_answer"] and record["utterances"] == 1
    assert record["speech_end_to_kept_speculation_s"] == pytest.approx(0.3)
    assert record["error"] is None and record["latency_s"] == pytest.approx(0.4)


def test_no_utterance_is_an_error_with_no_timings():
    record = build_spoken_record(ITEM, "baseline", {}, [AudioStarted(t=0.1, audio_t=0.02)], 4, 0.6)
    assert record["error"] == "no speech heard" and not record["correct"]
    assert record["speech_end_to_first_audio_s"] is None and record["stages_s"] is None
    assert record["transcript"] == "" and record["wer"] == 1.0


def test_stages_add_up_even_when_the_answer_was_ready_before_the_end_was_confirmed():
    stages = stage_times(10.0, 10.8, 0.6, first_sentence=10.5, first_audio=10.83)
    assert stages == pytest.approx({"endpointing": 0.6, "asr": 0.2, "llm": 0.0, "tts": 0.03})
    assert stage_times(10.0, None, 0.6, 10.5, 10.9) is None


def test_first_sentence_is_when_a_speakable_sentence_completes():
    events = [
        AnswerDelta(t=1.0, text="**"),
        AnswerDelta(t=1.1, text="\n"),
        AnswerDelta(t=1.2, text="A: 10"),
        AnswerDelta(t=1.3, text="\nmore"),
    ]
    assert first_sentence_t(events) == 1.3
    unfinished = [
        AnswerDelta(t=1.0, text="The answer"),
        AnswerDone(t=1.4, call_id="a", text="The answer", finish_reason="stop"),
    ]
    assert first_sentence_t(unfinished) == 1.4
