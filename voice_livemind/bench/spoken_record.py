"""One spoken-benchmark result: a question's pipeline events turned into what a user feels.

Everything is measured from the end of speech (where the VAD heard the speaker stop, put on
the pipeline's clock) and computed from the events alone, like the text bench's records
(`bench_record.py`, whose fields every spoken record has too). The time to the first spoken
audio is split into consecutive stages that add up to it:

- endpointing: the silence the VAD waits for before it calls the utterance over
  (`min_silence_s`, the same in every mode);
- asr: the rest of end of speech -> end of utterance detected: the recogniser's lag behind the
  audio (a decode still running when the silence was complete) and any final decode;
- llm: end of utterance -> the answer's first sentence complete (near 0 when an answer
  prepared speculatively during the pause is kept);
- tts: first sentence -> its audio handed to the sink.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..asr.events import AsrDecoded, UtteranceEnded
from ..asr.wer import word_errors
from ..audio.events import TtsFirstAudio
from ..audio.sentences import SentenceSplitter, clean_for_speech
from ..events import (
    AnswerDelta,
    AnswerDone,
    AnswerFirstToken,
    AnswerStarted,
    Event,
    InferenceDone,
    InferenceStarted,
    InputEnded,
    SpeculationDiscarded,
    SpeculationStarted,
)
from ..voice.metrics import audio_offset, speech_end_clock_t
from .record import build_record
from .spoken import SpokenQuestion

STAGES = ("endpointing", "asr", "llm", "tts")


def _first(events: Sequence[Event], kind: type) -> Any:
    return next((e for e in events if isinstance(e, kind)), None)


def first_sentence_t(events: Sequence[Event]) -> float | None:
    """When the answer's first speakable sentence was complete (what TTS starts on)."""
    splitter = SentenceSplitter()
    for e in events:
        if isinstance(e, AnswerDelta) and any(clean_for_speech(s) for s in splitter.feed(e.text)):
            return e.t
        if isinstance(e, AnswerDone):
            return e.t  # the answer ended mid-sentence: the tail is spoken
    return None


def stage_times(
    speech_end: float | None,
    utterance_end: float | None,
    vad_silence_s: float,
    first_sentence: float | None,
    first_audio: float | None,
) -> dict[str, float] | None:
    """End of speech -> first audio as consecutive stages (see the module docstring)."""
    if None in (speech_end, utterance_end, first_sentence, first_audio):
        return None
    assert speech_end is not None and utterance_end is not None  # for the type checker
    assert first_sentence is not None and first_audio is not None
    heard = max(utterance_end - speech_end, 0.0)
    endpointing = min(vad_silence_s, heard)
    sentence = max(first_sentence, utterance_end)
    return {
        "endpointing": round(endpointing, 4),
        "asr": round(heard - endpointing, 4),
        "llm": round(sentence - utterance_end, 4),
        "tts": round(first_audio - sentence, 4),
    }


def _last_turn(events: Sequence[Event]) -> list[Event]:
    """The events of the answered turn: the last one, should the VAD have cut the question."""
    ended = [e.turn for e in events if isinstance(e, InputEnded)]
    return [e for e in events if e.turn == ended[-1]] if ended else list(events)


def build_spoken_record(
    item: SpokenQuestion,
    mode: str,
    run: dict[str, Any],
    events: Sequence[Event],
    question_audio_s: float,
    vad_silence_s: float,
    error: str | None = None,
) -> dict[str, Any]:
    """The result line for one spoken question (README, "The spoken benchmark")."""
    utterances = [e for e in events if isinstance(e, UtteranceEnded)]
    if not utterances and error is None:
        error = "no speech heard"
    record = build_record(item.question, mode, run, events, lambda t: t, 0.0, error)
    turn = _last_turn(events)
    speech_end = speech_end_clock_t(turn, audio_offset(events))
    utterance = _first(turn, UtteranceEnded)
    first_audio = _first(turn, TtsFirstAudio)
    final_asr_s = sum(e.compute_s for e in turn if isinstance(e, AsrDecoded) and e.kind == "end")
    sentence_t = first_sentence_t(turn)

    def since_speech_end(event_t: float | None) -> float | None:
        if event_t is None or speech_end is None or error:
            return None
        return round(event_t - speech_end, 4)

    transcript = " ".join(u.text for u in utterances)
    errors = word_errors(item.text, transcript) if item.text else None
    calls = [e for e in turn if isinstance(e, InferenceDone | AnswerDone)]
    started = _first(turn, AnswerStarted)
    record.update(
        {
            "transcript": transcript,
            "reference_text": item.text,
            "wer": None if errors is None else round(errors.rate, 4),
            "wer_edits": None if errors is None else errors.edits,
            "wer_words": None if errors is None else errors.reference_words,
            "utterances": len(utterances),
            "question_audio_s": round(question_audio_s, 3),
            "speech_end_s": None if speech_end is None else round(speech_end, 4),
            "speech_end_to_utterance_end_s": since_speech_end(utterance and utterance.t),
            "speech_end_to_first_token_s": since_speech_end(
                getattr(_first(turn, AnswerFirstToken), "t", None)
            ),
            "speech_end_to_answer_s": since_speech_end(
                getattr(_first(turn, AnswerDone), "t", None)
            ),
            "speech_end_to_first_audio_s": since_speech_end(first_audio and first_audio.t),
            "stages_s": None
            if error
            else stage_times(
                speech_end,
                utterance and utterance.t,
                vad_silence_s,
                sentence_t,
                first_audio and first_audio.t,
            ),
            "final_asr_s": round(final_asr_s, 4),
            "inferences_before_speech_end": sum(
                1
                for e in turn
                if isinstance(e, InferenceStarted) and speech_end is not None and e.t < speech_end
            ),
            "tokens_after_speech_end": sum(
                e.tokens.generated_tokens
                for e in calls
                if speech_end is not None and e.t > speech_end
            ),
            "speculations": sum(1 for e in turn if isinstance(e, SpeculationStarted)),
            "speculations_discarded": sum(1 for e in turn if isinstance(e, SpeculationDiscarded)),
            "speculative_answer": bool(started and started.speculative),
            # When the kept answer was started: its head start over the end of the utterance.
            "speech_end_to_kept_speculation_s": since_speech_end(
                next(
                    (
                        e.t
                        for e in turn
                        if isinstance(e, SpeculationStarted)
                        and started is not None
                        and started.speculative
                        and e.call_id == started.call_id
                    ),
                    None,
                )
            ),
        }
    )
    return record
