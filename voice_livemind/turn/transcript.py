"""Transcript end-of-turn signals: pure functions over the text heard so far.

Recognised text is punctuated by Whisper, which also ends a phrase cut by a pause with a
period ("The capital of, um." or "Options."), so punctuation alone is a weak signal; the
functions below look at the words too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Words a finished sentence does not end on: articles, prepositions, conjunctions, fillers.
_DANGLING = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "from",
        "with",
        "about",
        "into",
        "onto",
        "over",
        "under",
        "between",
        "than",
        "as",
        "and",
        "or",
        "but",
        "nor",
        "so",
        "because",
        "if",
        "that",
        "which",
        "who",
        "whose",
        "whom",
        "when",
        "where",
        "while",
        "although",
        "though",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "has",
        "have",
        "had",
        "will",
        "would",
        "can",
        "could",
        "shall",
        "should",
        "may",
        "might",
        "must",
        "my",
        "your",
        "his",
        "her",
        "its",
        "our",
        "their",
        "this",
        "these",
        "those",
        "very",
        "um",
        "uh",
        "er",
        "erm",
        "hmm",
        "like",
        "options",
        "option",
    ]
)
_FILLERS = frozenset(["um", "uh", "er", "erm", "hmm", "mm"])
_WORD = re.compile(r"[A-Za-z0-9']+")
# "Options.", "options are:" announce a list of options to come; so does "Option A" itself.
_ANNOUNCE = re.compile(r"\boptions\b(?:\s+are)?\s*[:.,]?|(?=\boption\s+\(?a\b)", re.IGNORECASE)
# An option's letter: a capital A-J standing alone, followed by a comma, period, colon or
# bracket ("A, Mars." / "A. Mars" / "(B) Venus" / "Option C: Earth").
_LETTER = re.compile(r"(?:^|[\s(])(?:option\s+)?\(?([A-J])(?:[,.:)]|\s*-)(?=\s|$)", re.IGNORECASE)


@dataclass(frozen=True)
class OptionsState:
    announced: bool  # "Options" was said
    letters: tuple[str, ...]  # the option letters read so far, in order from A
    last_option_read: bool  # the last letter is followed by some words

    def all_read(self, expected: int) -> bool:
        """At least `expected` options (A, B, ...) have been read, the last one with its text."""
        return self.announced and len(self.letters) >= expected and self.last_option_read


@dataclass(frozen=True)
class TranscriptSignals:
    """What the text says about the end of the turn."""

    question_mark: bool  # the text ends with "?"
    complete_sentence: bool  # it ends with a sentence end, not on a dangling word or filler
    ends_with_filler: bool  # "um", "uh": the speaker is thinking, not done
    ends_dangling: bool  # on "the", "of", "and"...: the sentence cannot be over
    options: OptionsState

    def options_pending(self, expected: int) -> bool:
        """Options were announced and not all of them have been read yet."""
        return self.options.announced and not self.options.all_read(expected)


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def ends_with_question_mark(text: str) -> bool:
    return text.rstrip().endswith("?")


def ends_with_filler(text: str) -> bool:
    found = words(text)
    return bool(found) and found[-1].lower() in _FILLERS


def ends_dangling(text: str) -> bool:
    """The last word is one a sentence does not end on ("the", "of", "and", "um")."""
    found = words(text)
    return bool(found) and found[-1].lower() in _DANGLING


def is_complete_sentence(text: str) -> bool:
    """The text ends with a sentence end (. ? !) after a word a sentence can end on."""
    stripped = text.rstrip().rstrip("\"')]")
    if not stripped or stripped[-1] not in ".?!":
        return False
    found = words(stripped)
    return bool(found) and found[-1].lower() not in _DANGLING


def options_state(text: str) -> OptionsState:
    """Which options have been read after the last "Options" announcement.

    Letters count only in order from A (a stray "A" is an article, not option A); the text after
    the last letter says whether that option has been read out or only its letter so far.
    """
    announcements = list(_ANNOUNCE.finditer(text))
    if not announcements:
        return OptionsState(False, (), False)
    after = text[announcements[-1].end() :]
    letters: list[str] = []
    last_end = 0
    for match in _LETTER.finditer(after):
        letter = match.group(1).upper()
        if letter == chr(ord("A") + len(letters)):
            letters.append(letter)
            last_end = match.end()
    read = bool(letters) and bool(words(after[last_end:]))
    return OptionsState(True, tuple(letters), read)


def options_announced_last(text: str) -> bool:
    """The text ends on the announcement itself ("... Options.")."""
    found = words(text)
    return bool(found) and found[-1].lower() in ("options", "option")


def transcript_signals(text: str) -> TranscriptSignals:
    return TranscriptSignals(
        question_mark=ends_with_question_mark(text),
        complete_sentence=is_complete_sentence(text),
        ends_with_filler=ends_with_filler(text),
        ends_dangling=ends_dangling(text) and not options_announced_last(text),
        options=options_state(text),
    )
