"""What the streaming recogniser publishes: events in the pipeline's one vocabulary.

`t` is audio stream time in seconds (how much audio had been fed when the event was produced),
not wall-clock time: the recogniser is pure and never reads a clock except to measure its own
compute (`AsrDecoded.compute_s`). A pipeline wanting wall-clock times stamps events on receipt.
Committed text only grows within an utterance (LocalAgreement commits are final), so a consumer
can pass `WordsCommitted.text` straight to `LiveMindSession.feed()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..events import Event

# (start, end, text, probability): stream seconds, and Whisper's confidence in the word (0-1)
TimedWord = tuple[float, float, str, float]


@dataclass(frozen=True, kw_only=True)
class SpeechStarted(Event):
    """The VAD heard speech; `audio_t` is where it began (padded a little earlier)."""

    type: ClassVar[str] = "speech_started"
    audio_t: float


@dataclass(frozen=True, kw_only=True)
class SpeechEnded(Event):
    """The VAD heard `min_silence_s` of silence; speech ended at `audio_t`."""

    type: ClassVar[str] = "speech_ended"
    audio_t: float


@dataclass(frozen=True, kw_only=True)
class SpeechPaused(Event):
    """Speech has paused for `pause_commit_s` (the end of the utterance may be near) and
    everything heard so far is committed; the pause began at `audio_t`."""

    type: ClassVar[str] = "speech_paused"
    audio_t: float


@dataclass(frozen=True, kw_only=True)
class SpeechResumed(Event):
    """Speech went on after a `SpeechPaused`: that pause was not the end of the utterance."""

    type: ClassVar[str] = "speech_resumed"
    audio_t: float


@dataclass(frozen=True, kw_only=True)
class WordsPartial(Event):
    """After a decode: the unconfirmed tail `text`, after the utterance's `committed_text`."""

    type: ClassVar[str] = "words_partial"
    text: str
    committed_text: str


@dataclass(frozen=True, kw_only=True)
class WordsCommitted(Event):
    """Words that will not change. `text` is the new words, space-joined, with a leading space
    when they continue earlier committed text of the utterance; `committed_text` is all of it."""

    type: ClassVar[str] = "words_committed"
    words: tuple[TimedWord, ...]
    text: str
    committed_text: str
    reason: str  # "agreement" | "pause" | "trim" | "end": what made them final


@dataclass(frozen=True, kw_only=True)
class UtteranceEnded(Event):
    """The utterance is over and fully committed: `text` is its final transcript, and
    `confidence` how sure Whisper was of it (the mean probability of its words; see
    `confidence.py`)."""

    type: ClassVar[str] = "utterance_ended"
    text: str
    audio_t: float  # stream time where speech ended
    start_t: float  # stream time where speech started
    confidence: float = 1.0


@dataclass(frozen=True, kw_only=True)
class AsrDecoded(Event):
    """A metric: one Whisper decode of the buffer (the recogniser's only heavy work)."""

    type: ClassVar[str] = "asr_decoded"
    kind: str  # "update" (cadence) | "pause" (early in a pause: the final pass) | "end"
    buffer_s: float  # seconds of audio decoded
    compute_s: float  # wall seconds it took
    queued_s: float = 0.0  # wall seconds the stream waited for the shared decoder before it
    next_interval_s: float  # new audio needed before the next cadence decode
    audio_t: float = 0.0  # stream time of the newest audio fed when it was decoded
    # Wall seconds from the arrival of that audio to the decode's result: how far recognition
    # was behind the talker. Stamped by a pipeline that knows when audio arrived (else None).
    behind_s: float | None = None
