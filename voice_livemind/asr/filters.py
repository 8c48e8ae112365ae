"""Hallucination guards applied to every Whisper hypothesis before it can be committed.

Whisper invents text where there is no speech ("Thank you for watching.") and can loop on a
word ("True. True. True."). The VAD keeps most silence from being decoded at all; these filters
catch what gets through. They are pure functions over word lists.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .agreement import Word

# Whole segments that Whisper produces on silence, music or noise (the usual subtitle credits).
# Normalised: lowercase, no punctuation. A user is unlikely to say these to an assistant; plain
# "thank you" is deliberately absent, as people do say it.
KNOWN_HALLUCINATIONS = frozenset(
    {
        "thanks for watching",
        "thank you for watching",
        "thank you for watching and see you next time",
        "thank you so much for watching",
        "please subscribe",
        "please subscribe to my channel",
        "like and subscribe",
        "dont forget to like and subscribe",
        "subtitles by the amaraorg community",
        "transcription by castingwords",
        "transcribed by",
        "subtitles by",
        "music",
        "applause",
        "silence",
    }
)
_BRACKETED = re.compile(r"^[\[(♪*].*[\])♪*]$")  # [Music], (upbeat music), ♪ ... ♪


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", "", text.lower()).split())


def is_hallucination(text: str) -> bool:
    """A segment's text that is a known non-speech phrase or a sound annotation."""
    stripped = text.strip()
    return bool(_BRACKETED.match(stripped)) or normalise(stripped) in KNOWN_HALLUCINATIONS


def cut_loops(words: Sequence[Word], max_repeats: int = 2, long_ngram: int = 5) -> list[Word]:
    """Truncate the hypothesis where it starts looping.

    A loop is a short n-gram repeated more than `max_repeats` times in a row ("It is true. True.
    True. True." keeps "It is true."), or any run of `long_ngram` or more words said twice in a
    row (Whisper re-reading its whole buffer). Everything after a loop is dropped, since a decoder
    that started looping has lost its place in the audio.
    """
    keys = [w.key for w in words]
    for i in range(len(keys)):
        for n in range(1, (len(keys) - i) // 2 + 1):
            gram = keys[i : i + n]
            repeats = 1
            while keys[i + repeats * n : i + (repeats + 1) * n] == gram:
                repeats += 1
            if repeats > max_repeats or (repeats > 1 and n >= long_ngram):
                return list(words[: i + n])
    return list(words)


def within(words: Sequence[Word], start: float, end: float) -> list[Word]:
    """Words that overlap [start, end] (stream times of VAD speech, already padded)."""
    return [w for w in words if w.end >= start and w.start <= end]
