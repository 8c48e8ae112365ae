"""LocalAgreement-2: commit the words two consecutive hypotheses agree on.

Whisper re-decodes a growing audio buffer; its last few words change from one decode to the
next while earlier ones settle. A word is committed once the latest hypothesis and the one
before it agree on it and on everything before it (the longest common prefix beyond what is
already committed), as in ufal/whisper_streaming's `HypothesisBuffer`. Pure logic over word
lists: no audio, no model, so it is tested with plain lists.

Differences from whisper_streaming, each for a reason:
- Words are compared case- and punctuation-insensitively ("France," agrees with "France."), so
  a word commits as soon as its identity is stable; the newer spelling is the one committed,
  since it was decoded with more right context.
- The n-gram de-duplication at the commit boundary tries the longest overlap first, so a
  hypothesis that re-reads "a b a" after a committed "a b a" drops all three words, not one.
- The newest hypothesis' last word is not committed by agreement: it has no right context, and
  its punctuation at the end of the buffer is a guess.
- `commit_all()` commits the latest hypothesis wholesale, for the end of an utterance or a pause
  (no second hypothesis will come to confirm its tail).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

_PUNCT = re.compile(r"[^\w']+|(?<!\w)'|'(?!\w)")


@dataclass(frozen=True)
class Word:
    """One recognised word; times in seconds of the audio stream (or of a buffer, before offset).

    `probability` is Whisper's own confidence in the word (the mean probability of its tokens);
    agreement ignores it, the recogniser passes it on (see `confidence.py`).
    """

    start: float
    end: float
    text: str
    probability: float = 1.0

    def shifted(self, offset: float) -> Word:
        """The same word `offset` seconds later (buffer time to stream time)."""
        return replace(self, start=self.start + offset, end=self.end + offset)

    @property
    def key(self) -> str:
        """What agreement compares: lowercase, punctuation stripped (kept when nothing else)."""
        return _PUNCT.sub("", self.text.lower()) or self.text.strip()


def join_words(words: Iterable[Word]) -> str:
    return " ".join(w.text.strip() for w in words if w.text.strip())


class LocalAgreement:
    """The commit policy over successive hypotheses of one audio buffer.

    Verbs, as in whisper_streaming: `insert` a new hypothesis, `flush` to commit the prefix it
    shares with the previous one, `complete` for the unconfirmed tail.
    """

    def __init__(self, max_ngram: int = 5, boundary_s: float = 1.0, overlap_s: float = 0.1):
        self.max_ngram = max_ngram  # longest repeat looked for at the commit boundary
        self.boundary_s = boundary_s  # de-duplicate only hypotheses starting this close to it
        self.overlap_s = overlap_s  # tolerance for words re-decoded just before the boundary
        self.committed: list[Word] = []  # everything committed, in order
        self.last_committed_end = 0.0
        self._committed_in_buffer: list[Word] = []  # committed words still inside the buffer
        self._previous: list[Word] = []  # the last hypothesis beyond the commit point
        self._new: list[Word] = []  # the hypothesis being inserted

    def insert(self, words: Sequence[Word], offset: float = 0.0) -> None:
        """Take a new hypothesis for the current buffer; `offset` is the buffer's stream time."""
        shifted = [w.shifted(offset) for w in words]
        # Words that end before the commit point were committed (or rejected) already.
        self._new = [w for w in shifted if w.start > self.last_committed_end - self.overlap_s]
        if self._new and abs(self._new[0].start - self.last_committed_end) < self.boundary_s:
            self._drop_repeated_ngram()

    def _drop_repeated_ngram(self) -> None:
        """Drop the hypothesis' first words when they repeat the last committed ones."""
        committed, new = self._committed_in_buffer, self._new
        for n in range(min(len(committed), len(new), self.max_ngram), 0, -1):
            if [w.key for w in committed[-n:]] == [w.key for w in new[:n]]:
                del new[:n]
                return

    def flush(self, commit_allowed: bool = True) -> list[Word]:
        """Commit and return the longest common prefix of the last two hypotheses.

        With `commit_allowed=False` the new hypothesis only replaces the previous one (a caller
        that does not trust hypotheses of very short buffers yet).
        """
        commit: list[Word] = []
        # The newest hypothesis' last word is never committed: its spelling, and above all its
        # punctuation ("capital." at the buffer's end), depends on the words that follow.
        for new, previous in zip(self._new[:-1], self._previous, strict=False):
            if new.key != previous.key or not commit_allowed:
                break
            commit.append(new)
        self._previous = self._new[len(commit) :]
        self._new = []
        self._record(commit)
        return commit

    def commit_all(self) -> list[Word]:
        """Commit the latest hypothesis wholesale (no later hypothesis will confirm it)."""
        commit = self._new if self._new else self._previous
        self._previous, self._new = [], []
        self._record(commit)
        return commit

    def commit_prefix(self, n: int) -> list[Word]:
        """Commit the first `n` unconfirmed words as they stand (the buffer must be cut)."""
        commit, self._previous = self._previous[:n], self._previous[n:]
        self._record(commit)
        return commit

    def complete(self) -> list[Word]:
        """The unconfirmed tail: the latest hypothesis beyond the committed words."""
        return list(self._previous)

    def drop_before(self, t: float) -> None:
        """The buffer was cut at stream time `t`: forget committed words that ended before it.

        Words ending within `overlap_s` of the cut are kept: a cut at a word's end may leave a
        sliver of it in the buffer, re-decoded as the same word, which de-duplication removes.
        """
        cut = t - self.overlap_s
        self._committed_in_buffer = [w for w in self._committed_in_buffer if w.end > cut]

    def _record(self, commit: list[Word]) -> None:
        if commit:
            self.committed.extend(commit)
            self._committed_in_buffer.extend(commit)
            self.last_committed_end = commit[-1].end
