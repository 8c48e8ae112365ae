"""How sure Whisper is of a transcript, from its own word probabilities.

faster-whisper gives every word a probability (the mean of its tokens' probabilities). One
uncertain word is normal ("photosynthesis" read by a robot voice); a transcript that is uncertain
throughout is Whisper writing words for sound that holds none it knows: speech played backwards,
two people at once, speech under loud noise. The voice pipeline asks the user to repeat such a
turn instead of answering it (`benchmarks/transcript_confidence.py` measures both summaries
below on clean and bad input and chooses the threshold).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

LOW_PROBABILITY = 0.5  # a word below this counts as uncertain in `low_share`


@dataclass(frozen=True)
class TranscriptConfidence:
    """Summaries of the word probabilities of one transcript (1.0 / 0.0 when it has no words)."""

    words: int
    mean_probability: float
    low_share: float  # share of the words below `LOW_PROBABILITY`


def transcript_confidence(probabilities: Iterable[float]) -> TranscriptConfidence:
    values = list(probabilities)
    if not values:
        return TranscriptConfidence(words=0, mean_probability=1.0, low_share=0.0)
    return TranscriptConfidence(
        words=len(values),
        mean_probability=sum(values) / len(values),
        low_share=sum(p < LOW_PROBABILITY for p in values) / len(values),
    )
