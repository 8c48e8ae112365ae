"""Cutting a stream of answer text into sentences, so speech can start before the answer ends.

Pure logic, no audio: `SentenceSplitter.feed(delta)` returns the sentences completed so far.
A sentence ends at . ! ? (or …) followed by whitespace, at a line break, or at the end of the
stream. A full stop only counts once the next character has arrived, so "1." followed later by
"5" stays the decimal 1.5; known abbreviations ("e.g.", "Dr.") do not end a sentence.

A multiple-choice answer statement ("The answer is (B)") is a sentence of its own as soon as its
closing bracket arrives: it is what the listener waits for, and a model often runs straight on
into the option's text ("The answer is (B) Paris is the capital...") with the full stop many
tokens later. Speaking it at once saves those tokens' time before the first audio.
"""

from __future__ import annotations

import re

# Lower-case words that are usually followed by more of the same sentence. Words that often end
# a sentence too ("etc.", "no.") are left out: a pause too many is better than a run-on.
ABBREVIATIONS = frozenset(
    {"e.g", "i.e", "cf", "vs", "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "approx",
     "fig", "eq", "al", "ca", "resp"}
)  # fmt: skip

# End punctuation, then closing quotes/brackets, then (lookahead) whitespace; or a line break.
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)|\n")
# "answer is (B)", "answer is: (B)": ends a sentence at its bracket (see the module docstring).
# Any short label, not only A-J: a small model answers "(Y)" or "(12)" too, and the listener
# waits for that statement all the same.
_ANSWER_STATEMENT = re.compile(r"\banswer is:?\s*\([A-Za-z0-9]{1,3}\)", re.IGNORECASE)
_SENTENCE_END = re.compile(f"{_ANSWER_STATEMENT.pattern}|{_BOUNDARY.pattern}", re.IGNORECASE)
# What a sentence cut after an answer statement may start with: its own end punctuation.
_LEADING_PUNCTUATION = ".!?…,;: \t\n"
_DOTTED = re.compile(r"(?:[A-Za-z]\.){2,}$")  # "U.S.", "a.m.": initialisms, not sentence ends
_MARKUP = re.compile(r"[*#`_]+")  # markdown an LLM emits; espeak would read it out


class SentenceSplitter:
    """Stateful: feed text deltas in order, then `flush()` once the stream ends."""

    def __init__(self, max_chars: int = 300) -> None:
        # A run-on without punctuation is cut (after a comma, else a space) before `max_chars`,
        # so speech never waits for a whole paragraph.
        self.max_chars = max_chars
        self._buffer = ""

    def feed(self, delta: str) -> list[str]:
        """Add `delta`; return the sentences it completed (stripped, never empty)."""
        self._buffer += delta
        sentences: list[str] = []
        start = 0
        for match in _SENTENCE_END.finditer(self._buffer):
            full_stop = match.group() != "\n" and not _ANSWER_STATEMENT.fullmatch(match.group())
            if full_stop and _is_abbreviation(self._buffer[start : match.start()]):
                continue
            sentences.append(self._buffer[start : match.end()])
            start = match.end()
        self._buffer = self._buffer[start:]
        while len(self._buffer) > self.max_chars and (
            cut := _soft_cut(self._buffer, self.max_chars)
        ):
            sentences.append(self._buffer[:cut])
            self._buffer = self._buffer[cut:]
        return [s for s in (_tidy(s) for s in sentences) if s]

    def flush(self) -> list[str]:
        """The unterminated tail once the stream has ended (zero or one sentence)."""
        tail, self._buffer = _tidy(self._buffer), ""
        return [tail] if tail else []


def _tidy(sentence: str) -> str:
    """Stripped, without the end punctuation left over from a cut after an answer statement."""
    return sentence.strip().lstrip(_LEADING_PUNCTUATION)


def _is_abbreviation(text_before_dot: str) -> bool:
    words = text_before_dot.split()
    if not words:
        return False
    word = words[-1].lstrip("(\"'“‘").lower()
    return word in ABBREVIATIONS or bool(_DOTTED.search(word + "."))


def _soft_cut(text: str, limit: int) -> int:
    """Where to cut a too-long run-on: after the last clause mark, else the last space."""
    head = text[:limit]
    for marks in (",;:", " "):
        cut = max(head.rfind(mark) for mark in marks)
        if cut > 0:
            return cut + 1
    return 0


def split_sentences(text: str) -> list[str]:
    """All sentences of a finished text (the streaming splitter, fed once)."""
    splitter = SentenceSplitter()
    return splitter.feed(text) + splitter.flush()


def clean_for_speech(sentence: str) -> str:
    """Drop markup a TTS engine would spell out; '' when nothing speakable is left."""
    text = " ".join(_MARKUP.sub(" ", sentence).split())
    text = text.removeprefix("- ")
    return text if any(ch.isalnum() for ch in text) else ""
