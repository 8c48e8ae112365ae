"""Speech-out events, in the pipeline's one vocabulary (`voice_livemind.events`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..events import Event


@dataclass(frozen=True, kw_only=True)
class AudioStarted(Event):
    """The source delivered its first frame: audio time `audio_t` was reached at clock time `t`
    (relates audio times, such as where speech ended, to the pipeline's clock)."""

    type: ClassVar[str] = "audio_started"
    audio_t: float


@dataclass(frozen=True, kw_only=True)
class TtsFirstAudio(Event):
    """The first audio of an answer was handed to the sink: the moment the user starts hearing."""

    type: ClassVar[str] = "tts_first_audio"
    text: str  # the sentence being spoken
    audio_s: float  # its duration
    prepared: bool = False  # synthesised ahead, while the answer was prepared in a pause


@dataclass(frozen=True, kw_only=True)
class TtsDone(Event):
    """The last audio of an answer was written (for a speaker: has about finished playing)."""

    type: ClassVar[str] = "tts_done"
    sentences: int  # spoken sentences
    audio_s: float  # total audio written
    failed: int = 0  # sentences that could not be synthesised or played
    interrupted: bool = False  # stopped early by `SentenceSpeaker.interrupt` (barge-in)


@dataclass(frozen=True, kw_only=True)
class SpeechInterrupted(Event):
    """The user spoke over the answer (barge-in): speech stopped; audio already handed out but not
    yet heard (`unplayed_s`) should be dropped by whoever plays it."""

    type: ClassVar[str] = "speech_interrupted"
    unplayed_s: float
