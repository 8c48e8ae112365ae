"""Asking the user to say it again when the transcript is too uncertain to answer.

Whisper writes words for any sound: speech played backwards, two people talking at once, a
voice under loud noise. Answering that transcript answers noise. Its word probabilities tell
(`asr.confidence`): when the mean probability of an utterance's words is below
`RepeatConfig.min_confidence`, the pipeline does not answer the turn; the session forgets it
(nothing LiveMind inferred from it reaches the next turn) and the assistant says `line`.

An utterance of fewer than `min_words` words is answered whatever its figure: a mean of one or
two words says little, and Whisper gives a lone word a low probability even when it heard it
right ("Yes" 0.47, "Stop" 0.38 from clean speech).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..asr.events import UtteranceEnded
from ..events import Event

REPEAT_LINE = "Sorry, I didn't catch that. Could you say it again?"


@dataclass(frozen=True)
class RepeatConfig:
    # Calibrated by benchmarks/transcript_confidence.py (RESULTS.md, "Asking to repeat"):
    # between the clean speech of either test voice and speech reversed or under loud noise.
    min_confidence: float = 0.55  # 0 turns the check off
    min_words: int = 3  # shorter utterances are always answered (see the module docstring)
    line: str = REPEAT_LINE

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError(
                f"the repeat threshold is a word probability in [0, 1], got {self.min_confidence}"
            )

    def needs_repeat(self, utterance: UtteranceEnded) -> bool:
        """Too uncertain to answer: the user should say it again."""
        if len(utterance.text.split()) < self.min_words:
            return False
        return utterance.confidence < self.min_confidence


@dataclass(frozen=True, kw_only=True)
class RepeatRequested(Event):
    """The turn was not answered: its transcript `text` was too uncertain (`confidence` below
    `threshold`), and the assistant asked the user to repeat with `line`."""

    type: ClassVar[str] = "repeat_requested"
    text: str
    confidence: float
    threshold: float
    line: str
