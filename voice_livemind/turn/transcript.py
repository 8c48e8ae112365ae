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
_QUESTION_WORDS = frozenset(
    [
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "is",
        "are",
        "was",
        "were",
        "do",
        "does",
        "did",
        "can",
        "could",
        "will",
        "would",
        "should",
        "shall",
        "may",
        "might",
        "has",
        "have",
        "had",
    ]
)
_FILLERS = frozenset(["um", "uh", "er", "erm", "hmm", "mm"])
_WORD = re.compile(r"[A-Za-z0-9']+")
# "Options.", "options are:" announce a list of options to come; so does "Option A" itself.
_ANNOUNCE = re.compile(r"\boptions\b(?:\s+are)?\s*[:.,]?|(?=\boption\s+\(?a\b)", re.IGNORECASE)
# An option's letter: a capital A-J standing alone, followed by a comma, period, colon or
# bracket ("A, Mars." / "A. Mars" / "(B) Venus" / "Option C: Earth").
# "Options a, ..." as Whisper writes a letter said right after the announcement.
_FIRST_A = re.compile(r"^\s*[:.,]?\s*\(?a\b", re.IGNORECASE)
_REFERS_TO_OPTIONS = re.compile(r"\b(?:of|from|among) the following\b", re.IGNORECASE)
# Whisper tiny.en writes some letters said alone as words: "B." as "The." or "Be.", "C." as
# "See." or "T."; standing alone before a comma or period they are letters, not words.
_HEARD_AS = {"the": "B", "be": "B", "bee": "B", "see": "C", "sea": "C", "si": "C", "t": "C"}
# After the word "option" a letter needs no punctuation: Whisper writes "option c not wrong"
# and "Option D 15." as often as "Option C, ...".
_LETTER_WORD = r"[A-J]|the|bee?|see|sea|si|t"
_LETTER = re.compile(
    rf"(?:^|[\s(])(?:option\s+\(?({_LETTER_WORD})\b[,.:)]?|\(?({_LETTER_WORD})(?:[,.:)]|\s*-))"
    r"(?=\s|$)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class OptionsState:
    announced: bool  # "Options" was said
    letters: tuple[str, ...]  # the option letters read so far, in order (see `options_state`)
    last_option_read: bool  # the last letter is followed by some words

    def all_read(self, expected: int) -> bool:
        """The options up to the `expected`-th letter have been read, the last one with its text."""
        if not (self.announced and self.letters and self.last_option_read):
            return False
        return ord(self.letters[-1]) - ord("A") + 1 >= expected


@dataclass(frozen=True)
class TranscriptSignals:
    """What the text says about the end of the turn."""

    question_mark: bool  # the text ends with "?"
    question: bool  # the last sentence is a finished question (a "?" or a question word)
    complete_sentence: bool  # it ends with a sentence end, not on a dangling word or filler
    ends_with_filler: bool  # "um", "uh": the speaker is thinking, not done
    ends_dangling: bool  # on "the", "of", "and"...: the sentence cannot be over
    options: OptionsState
    options_expected: bool  # the question refers to options ("which of the following") not yet read

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
    """The last word is one a sentence does not end on ("the", "of", "and", "um"); a question
    may end on a preposition ("What does it stand for?")."""
    found = words(text)
    return bool(found) and found[-1].lower() in _DANGLING and not ends_with_question_mark(text)


def ends_with_question(text: str) -> bool:
    """The last sentence is a finished question: a question mark, or (Whisper often writes a
    period after a question) a complete sentence opening with a question word."""
    if ends_with_question_mark(text):
        return True
    if not is_complete_sentence(text):
        return False
    sentences = [x for x in re.split(r"[.?!]+", text) if words(x)]
    return bool(sentences) and words(sentences[-1])[0].lower() in _QUESTION_WORDS


def is_complete_sentence(text: str) -> bool:
    """The text ends with a sentence end (. ? !) after a word a sentence can end on."""
    stripped = text.rstrip().rstrip("\"')]")
    if not stripped or stripped[-1] not in ".?!":
        return False
    found = words(stripped)
    return bool(found) and found[-1].lower() not in _DANGLING


def options_state(text: str) -> OptionsState:
    """Which options have been read after the first "Options" announcement.

    Letters count in increasing order from A or B, one letter may be missing between two
    (Whisper mishears some: "A, LC oscillator" -> "a I'll see you all later"); a letter that does
    not continue the order is an article or a misheard word, not an option. The text after the
    last letter says whether that option has been read out or only its letter so far.
    """
    announcements = list(_ANNOUNCE.finditer(text))
    if not announcements:
        return OptionsState(False, (), False)
    # The first announcement: "options" said again inside an option ("all of the options
    # given") announces nothing.
    after = text[announcements[0].end() :]
    letters: list[str] = []
    last_end = 0
    if first := _FIRST_A.match(after):
        letters, last_end = ["A"], first.end()
    for match in _LETTER.finditer(after, last_end):
        token = match.group(1) or match.group(2)
        letter = _HEARD_AS.get(token.lower(), token).upper()
        previous = ord(letters[-1]) if letters else ord("A") - 1
        if 1 <= ord(letter) - previous <= 2:
            letters.append(letter)
            last_end = match.end()
    read = bool(letters) and bool(words(after[last_end:]))
    return OptionsState(True, tuple(letters), read)


def refers_to_options(text: str) -> bool:
    """The question speaks of options ("which of the following") before any are announced."""
    return bool(_REFERS_TO_OPTIONS.search(text)) and not _ANNOUNCE.search(text)


def options_announced_last(text: str) -> bool:
    """The text ends on the announcement itself ("... Options.")."""
    found = words(text)
    return bool(found) and found[-1].lower() in ("options", "option")


def transcript_signals(text: str) -> TranscriptSignals:
    return TranscriptSignals(
        question_mark=ends_with_question_mark(text),
        question=ends_with_question(text),
        complete_sentence=is_complete_sentence(text),
        ends_with_filler=ends_with_filler(text),
        ends_dangling=ends_dangling(text) and not options_announced_last(text),
        options=options_state(text),
        options_expected=refers_to_options(text),
    )
