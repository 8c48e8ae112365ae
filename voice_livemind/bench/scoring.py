"""Scoring a model's free-text reply to a multiple-choice question.

The paper's code accepts only `answer is \\(?([A-J])\\)?` (first match). Models under a streaming
prompt often answer in other shapes ("**Answer:** C", a bare "C." line), so `extract_answer`
tries answer patterns from most to least explicit, and within a pattern takes the last answer
stated: replies often revise themselves ("I first thought A... The answer is (C)").

Precedence (the first tier with a valid letter wins; within a tier the last one):
1. an answer statement: "the answer is (B)", "The correct answer is: **C**", "answer would be
   option D", "The best choice is $\\boxed{E}$";
2. an answer label: "Answer: B", "**Final answer:** (C)", or a LaTeX `\\boxed{C}`;
3. a marked letter: "**B**", "(B)", "Option C" / "choice C";
4. a line holding only a letter: "B", "B.", "B)", "(B)".

Only letters in `letters` count ("J" is no answer to a four-option question). Letters must be
upper case, except in tiers 1-2 where "(c)", "**c**" or a "c" that ends the sentence is clear
enough. "A" and "I" are also English words, so after an answer phrase they count only when not
followed by a word ("The answer is A train..." is no answer), unless that word is a connective
such as "because" ("The answer is A because...").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .datasets import Question

# What may stand between an answer phrase and its letter: spaces, colon, markdown, LaTeX, "(".
_LEAD = r"(?P<lead>(?:[\s:*_(\[$]|\\boxed\{|\\text(?:bf)?\{|(?i:option|choice)\s)*)"
_LETTER = r"(?P<letter>[A-Ja-j])"
_TIERS: tuple[tuple[re.Pattern[str], ...], ...] = (
    (
        re.compile(
            r"(?i:\b(?:answer|option|choice)\s+(?:is|would\s+be|should\s+be|must\s+be)"
            r"(?:\s+(?:therefore|thus|likely|probably|clearly|definitely))?)\b" + _LEAD + _LETTER
        ),
    ),
    (
        re.compile(r"(?i:\banswer)[*_]*\s*[:：]" + _LEAD + _LETTER),
        re.compile(r"\\boxed\{\s*(?:\\text(?:bf)?\{\s*)?\(?(?P<letter>[A-J])\b"),
    ),
    (
        re.compile(r"\*\*\s*\(?(?P<letter>[A-J])\)?[.:]?\s*\*\*"),
        re.compile(r"\((?P<letter>[A-J])\)"),
        re.compile(r"(?i:\b(?:option|choice))\s+\(?(?P<letter>[A-J])\b"),
    ),
    (re.compile(r"(?m)^[\s>#*_]*\(?(?P<letter>[A-J])[).:]?[\s*_]*$"),),
)
# Words that may follow an answer letter "A" or "I" (unlike a noun after the article "A").
_CONNECTIVES = frozenset(
    {"as", "because", "but", "due", "for", "given", "here", "is", "or", "since", "so", "which",
     "was", "with"}
)  # fmt: skip


@dataclass(frozen=True)
class Score:
    """One reply scored: what it answered (None if nothing parsed) and whether that is right."""

    predicted: str | None
    correct: bool
    parsed: bool


def extract_answer(text: str, letters: Sequence[str]) -> str | None:
    """The answer letter stated in `text`, or None; see the module docstring for the rules."""
    valid = {letter.upper() for letter in letters}
    for patterns in _TIERS:
        found = [
            (match.start("letter"), match.group("letter").upper())
            for pattern in patterns
            for match in pattern.finditer(text)
            if match.group("letter").upper() in valid and _stands_alone(text, match)
        ]
        if found:
            return max(found)[1]
    return None


def score_answer(text: str, question: Question) -> Score:
    """Score a reply against the question's correct letter."""
    predicted = extract_answer(text, question.letters)
    return Score(predicted, predicted == question.answer, predicted is not None)


def _stands_alone(text: str, match: re.Match[str]) -> bool:
    """Whether the matched letter is an answer, not the start of a word or the article "A"."""
    letter, after = match.group("letter"), text[match.end("letter") :]
    if re.match(r"[\w'’]", after):
        return False  # "Bob", "A's"
    after_phrase = "lead" in match.re.groupindex  # tiers 1-2: the letter follows a phrase
    lead = match.group("lead") if after_phrase else ""
    if letter.islower():  # only when marked off: "(c)", "**c**", or "c" ending the sentence
        enclosed = (lead.endswith("(") and after.startswith(")")) or (
            lead.rstrip().endswith(("*", "_")) and after.startswith(("*", "_"))
        )
        return enclosed or re.match(r"[ \t]*(?:[.!;,)]|$)", after, re.MULTILINE) is not None
    if letter in "AI" and after_phrase:  # after an answer phrase, "A"/"I" may be an article/pronoun
        word = re.match(r"\s+([a-z]+)", after)
        return word is None or word.group(1) in _CONNECTIVES
    return True
