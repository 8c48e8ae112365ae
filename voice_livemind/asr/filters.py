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

    The words kept are the loop's first copy, with each word's times taken from whichever copy
    the alignment gave the most time (see `_aligned_copy`).
    """
    keys = [w.key for w in words]
    for i in range(len(keys)):
        for n in range(1, (len(keys) - i) // 2 + 1):
            gram = keys[i : i + n]
            repeats = 1
            while keys[i + repeats * n : i + (repeats + 1) * n] == gram:
                repeats += 1
            if repeats > max_repeats or (repeats > 1 and n >= long_ngram):
                copies = [words[i + r * n : i + (r + 1) * n] for r in range(repeats)]
                return [*words[:i], *_aligned_copy(copies)]
    return list(words)


def _aligned_copy(copies: Sequence[Sequence[Word]]) -> list[Word]:
    """One copy of a looped n-gram, each word timed by the copy that the audio matches.

    Word times come from aligning all of Whisper's text to the audio at once (monotonic DTW), so
    a phrase said once but written twice shares its audio between the copies: where a copy does
    not match the audio, its words get almost no time. In "When does the farmer harvest the crop?"
    written twice over 2.7 s, the first copy had "When does the" at 0-1.14 s and its last four
    words at 1.14-1.14 s, the second copy the reverse, its last four at 1.2-2.4 s. Keeping the
    first copy's times put the end of the question at 1.14 s, where the time filters dropped it.
    """
    kept: list[Word] = []
    for position in zip(*copies, strict=True):
        word = max(position, key=lambda w: w.end - w.start)  # the first one on a tie
        start = max(word.start, kept[-1].end) if kept else word.start
        kept.append(Word(start, max(start, word.end), position[0].text, word.probability))
    return kept


def within(words: Sequence[Word], start: float, end: float) -> list[Word]:
    """Words that overlap [start, end] (stream times of VAD speech, already padded)."""
    return [w for w in words if w.end >= start and w.start <= end]
