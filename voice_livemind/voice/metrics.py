"""A voice turn's figures, measured from its events only (the latency log is the source of truth).

`measure_turn` is what the pipeline publishes as `TurnSummary` at the end of every turn; the
spoken benchmark places the end of speech on the clock with the same helpers.
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from ..asr.events import SpeechEnded, UtteranceEnded
from ..audio.events import AudioStarted, TtsDone, TtsFirstAudio
from ..events import (
    AnswerDone,
    AnswerFirstToken,
    Event,
    InferenceDone,
    InferenceStarted,
    InputEnded,
)
from ..livemind.session import TurnResult


@dataclass(frozen=True)
class VoiceTurn:
    """One answered utterance, measured from its events (times on the pipeline's clock)."""

    transcript: str
    answer_text: str
    speech_end_s: float | None  # where speech ended in the audio (VAD), audio seconds
    utterance_end_s: float | None  # when the end of the utterance was detected
    inferences_before_speech_end: int
    end_of_speech_to_answer_s: float | None
    end_of_speech_to_first_audio_s: float | None
    error: str | None = None
    # From the end of input (the end of the utterance, or of typed text): what a typing user
    # feels, and the paper's latency (to the complete answer).
    inferences: int = 0
    input_end_to_first_token_s: float | None = None
    input_end_to_answer_s: float | None = None
    input_end_to_first_audio_s: float | None = None
    speech_interrupted: bool = False  # the user barged in while the answer was spoken

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class TurnSummary(Event):
    """A turn is over: its figures (published on the bus, so the latency log has them too)."""

    type: ClassVar[str] = "turn_summary"
    figures: VoiceTurn


class AudioArrivals:
    """When the audio arrived, on the pipeline's clock: maps audio (stream) time to clock time.

    Audio time equals clock time only while audio flows without a break. A network client stops
    sending between turns (a microphone switched off), so the end of speech is placed on the
    clock by when that audio arrived, not by how much audio came before it.
    """

    _KEEP = 20_000  # frames remembered (over 15 minutes of 50 ms frames)

    def __init__(self) -> None:
        self._ends: list[float] = []  # audio time at the end of each frame
        self._arrived: list[float] = []  # clock time it arrived
        self._received_s = 0.0

    def record(self, duration_s: float, now: float) -> None:
        self._received_s += duration_s
        self._ends.append(self._received_s)
        self._arrived.append(now)
        if len(self._ends) > 2 * self._KEEP:
            del self._ends[: self._KEEP], self._arrived[: self._KEEP]

    def clock_time(self, audio_t: float) -> float | None:
        """When the audio at `audio_t` arrived (None: before anything remembered)."""
        if not self._ends or audio_t < self._ends[0] - 1.0:
            return None
        i = min(bisect.bisect_left(self._ends, audio_t), len(self._ends) - 1)
        return self._arrived[i] - (self._ends[i] - audio_t)


def audio_offset(events: list[Event]) -> float:
    """Clock time of audio time 0, from the `AudioStarted` event (0.0 without one)."""
    started = next((e for e in events if isinstance(e, AudioStarted)), None)
    return started.t - started.audio_t if started else 0.0


def speech_end_clock_t(events: list[Event], offset: float) -> float | None:
    """When (pipeline clock) the speech of the turn's utterance ended, per the VAD."""
    utterance = next((e for e in events if isinstance(e, UtteranceEnded)), None)
    heard = events[: events.index(utterance)] if utterance else events
    end = next((e.audio_t for e in reversed(heard) if isinstance(e, SpeechEnded)), None)
    return None if end is None else end + offset


def measure_turn(
    events: list[Event],
    result: TurnResult | None,
    error: str | None,
    arrivals: AudioArrivals | None = None,
) -> VoiceTurn:
    """The turn's figures, from its events only (the latency log is the source of truth).

    Latencies from the end of speech are on the clock of the events: `arrivals` places the end
    of speech (audio time) on it; without it, audio time is taken for clock time."""
    utterance = next((e for e in events if isinstance(e, UtteranceEnded)), None)
    heard = events[: events.index(utterance)] if utterance else events
    speech_end_audio = next(
        (e.audio_t for e in reversed(heard) if isinstance(e, SpeechEnded)), None
    )
    speech_end = speech_end_audio
    if arrivals is not None and speech_end_audio is not None:
        speech_end = arrivals.clock_time(speech_end_audio)
    done = next((e for e in events if isinstance(e, AnswerDone)), None)
    first_audio = next((e for e in events if isinstance(e, TtsFirstAudio)), None)

    def since_speech_end(t: float | None) -> float | None:
        return None if t is None or speech_end is None else round(t - speech_end, 4)

    answer = done.text if done else ""
    early = [e for e in events if isinstance(e, InferenceStarted)]
    input_end = next((e.t for e in events if isinstance(e, InputEnded)), None)
    first_token = next((e.t for e in events if isinstance(e, AnswerFirstToken)), None)

    def since_input_end(t: float | None) -> float | None:
        return None if t is None or input_end is None else round(t - input_end, 4)

    tts_done = next((e for e in events if isinstance(e, TtsDone)), None)
    return VoiceTurn(
        transcript=result.text if result else (utterance.text if utterance else ""),
        answer_text=answer,
        speech_end_s=speech_end_audio,
        utterance_end_s=utterance.t if utterance else None,
        inferences_before_speech_end=sum(
            1 for e in early if speech_end is not None and e.t < speech_end
        ),
        end_of_speech_to_answer_s=since_speech_end(done.t if done else None),
        end_of_speech_to_first_audio_s=since_speech_end(first_audio.t if first_audio else None),
        error=error,
        inferences=sum(1 for e in events if isinstance(e, InferenceDone)),
        input_end_to_first_token_s=since_input_end(first_token),
        input_end_to_answer_s=since_input_end(done.t if done else None),
        input_end_to_first_audio_s=since_input_end(first_audio.t if first_audio else None),
        speech_interrupted=bool(tts_done and tts_done.interrupted),
    )
