"""Multiple-choice questions: the options a question offers, and the letter a reply states.

`parse_options` reads the options out of the question text itself, as typed or transcribed
("(A) 1 hour", "(A): 1 hour", "Option A: 1 hour", "option a 1 hour", "A. 1 hour"), so the
assistant and the benchmarks find the same labels the same way. The final step constrains its
answer letter to those labels (`letter_regex`); `extract_answer` reads the letter a free reply
states; and `spoken_choice` says the chosen option as a person would ("B: 1 hour 20 minutes").

`extract_answer` tries answer patterns from most to least explicit and, within a pattern,
takes the last answer stated: replies often revise themselves ("I first thought A... The
answer is (C)"). The paper's code accepts only `answer is \\(?([A-J])\\)?` (first match);
models under a streaming prompt answer in other shapes too ("**Answer:** C", a bare "C.").

Precedence (the first tier with a valid letter wins; within a tier the last one):
1. an answer statement: "the answer is (B)", "The correct answer is: **C**", "answer would be
   option D", "The best choice is $\\boxed{E}$";
2. an answer label: "Answer: B", "**Final answer:** (C)", or a LaTeX `\\boxed{C}`;
3. a marked letter: "**B**", "(B)", "Option C" / "choice C", or a reply that opens by naming
   an option ("B: frequent muscle contractions", the assistant's spoken answer);
4. a line holding only a letter: "B", "B.", "B)", "(B)".

Only letters in `letters` count ("J" is no answer to a four-option question). Letters must be
upper case, except in tiers 1-2 where "(c)", "**c**" or a "c" that ends the sentence is clear
enough. "A" and "I" are also English words, so after an answer phrase they count only when not
followed by a word ("The answer is A train..." is no answer), unless that word is a connective
such as "because" ("The answer is A because...").
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

LABELS = "ABCDEFGHIJ"  # MMLU-Pro has up to ten options


@dataclass(frozen=True)
class Option:
    label: str  # "A".."J"
    text: str


# One pattern per way of writing an option's label; each match is one label, `body` starts
# where the option's text does.
_OPTION_MARKERS = (
    re.compile(r"\((?P<label>[A-J])\)[ \t]*:?[ \t]*"),  # "(A) x", "(A): x"
    # "Option A: x", and as speech recognisers write it: "option a x", "option B, x"
    re.compile(r"\b(?i:option)[ \t]+(?P<label>[A-Ja-j])\b[ \t]*[:,.)\-]?[ \t]*"),
    re.compile(r"(?:^|(?<=\s))(?P<label>[A-J])[.)][ \t]+"),  # "A. x", "A) x"
)


class OptionStyle(Enum):
    """How a question writes its option labels (the `_OPTION_MARKERS`, in order)."""

    PARENTHESES = "(A) x"  # the paper's code: "Options are:\n(A): x\n"
    SPOKEN = "Option A: x"  # as read aloud and transcribed
    DOTTED = "A. x"

    def render(self, labels: Sequence[str], texts: Sequence[str]) -> str:
        """Options `texts` under `labels`, written in this style."""
        pairs = list(zip(labels, texts, strict=True))
        if self is OptionStyle.SPOKEN:
            return " ".join(f"Option {label}: {text}." for label, text in pairs)
        if self is OptionStyle.DOTTED:
            return "".join(f"{label}. {text}\n" for label, text in pairs)
        return "Options are:\n" + "".join(f"({label}): {text}\n" for label, text in pairs)


def parse_options(text: str) -> tuple[Option, ...]:
    """The options `text` offers, in order from "A", or () when it offers fewer than two.

    Labels must run A, B, C... in one style; of several runs the longest counts, the last of
    equals (the options follow the question), and of several styles the one with the most
    options. An option's text runs to the next label, the last one's to the end of its line.
    """
    return _parse(text)[0]


def option_style(text: str) -> OptionStyle:
    """The style the options of `text` are written in (PARENTHESES when it has none)."""
    return _parse(text)[1]


def _parse(text: str) -> tuple[tuple[Option, ...], OptionStyle]:
    best: tuple[Option, ...] = ()
    style = OptionStyle.PARENTHESES
    for marker, marker_style in zip(_OPTION_MARKERS, OptionStyle, strict=True):
        runs: list[list[re.Match[str]]] = []
        for match in marker.finditer(text):
            label = match.group("label").upper()
            for run in runs:  # an option may quote other labels: "(C): (A) and (B) both"
                if len(run) < len(LABELS) and label == LABELS[len(run)]:
                    run.append(match)
            if label == "A":
                runs.append([match])
        longest = max((len(run) for run in runs), default=0)
        if longest < 2 or longest <= len(best):
            continue
        run = [run for run in runs if len(run) == longest][-1]
        options = []
        for match, after in zip(run, [*run[1:], None], strict=True):
            end = after.start() if after is not None else len(text)
            body = text[match.end() : end]
            if after is None:
                body = body.split("\n", 1)[0]
            options.append(Option(match.group("label").upper(), _clean_option(body)))
        best, style = tuple(options), marker_style
    return best, style


def _clean_option(body: str) -> str:
    """An option's text without the punctuation that joins it to the next ("1 hour.")."""
    return body.strip().rstrip(",;").strip().removesuffix(".").rstrip()


def letter_regex(labels: Sequence[str], closing: str = "") -> str:
    """A structured-output regex for exactly one of `labels`, then `closing` (e.g. ")")."""
    if not labels or any(label not in LABELS for label in labels):
        raise ValueError(f"option labels must be letters A-J, not {list(labels)}")
    return "[" + "".join(labels) + "]" + re.escape(closing)


def content_free_question(labels: Sequence[str]) -> str:
    """A question with no content and the same labels, as the paper's code shows options:
    what the model answers it with is its prior over the letters alone."""
    return "N/A\nOptions are:\n" + "".join(f"({label}): N/A\n" for label in labels)


def calibrated_letter(
    logprobs: Mapping[str, float], prior: Mapping[str, float], labels: Sequence[str]
) -> str | None:
    """The label whose log-probability most exceeds the model's prior for it (contextual
    calibration, Zhao et al. 2021): a small model's question-blind tilt towards one letter
    otherwise decides every greedy answer. A label missing from `logprobs` (outside the
    engine's top-k) is not chosen; one missing from `prior` gets the smallest prior seen, so
    that its absence is no boost. A tie goes to the more likely label. None when no label has
    a log-probability."""
    floor = min((prior[label] for label in labels if label in prior), default=0.0)
    scored = [
        (logprobs[label] - prior.get(label, floor), logprobs[label], label)
        for label in labels
        if label in logprobs and logprobs[label] > -math.inf
    ]
    return max(scored)[2] if scored else None


def spoken_choice(option: Option) -> str:
    """The chosen option as a person says it: "B: frequent muscle contractions."."""
    text = option.text.rstrip()
    if text and text[-1] not in ".!?":
        text += "."
    return f"{option.label}: {text}" if text else f"Option {option.label}."


# What may stand between an answer phrase and its letter: spaces, colon, markdown, LaTeX, "(".
_LEAD = r"(?P<lead>(?:[\s:*_(\[$]|\\boxed\{|\\text(?:bf)?\{|(?i:option|choice)\s)*)"
_LETTER = r"(?P<letter>[A-Ja-j])"
# A reply that opens by naming an option, as the assistant says it: "B: frequent contractions".
_OPENING = re.compile(r"\A\s*(?P<letter>[A-J]):[ \t]")
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
        _OPENING,
    ),
    (re.compile(r"(?m)^[\s>#*_]*\(?(?P<letter>[A-J])[).:]?[\s*_]*$"),),
)
# Words that may follow an answer letter "A" or "I" (unlike a noun after the article "A").
_CONNECTIVES = frozenset(
    {"as", "because", "but", "due", "for", "given", "here", "is", "or", "since", "so", "which",
     "was", "with"}
)  # fmt: skip


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


def stated_answer(text: str, letters: Sequence[str]) -> str | None:
    """The letter `text` has already committed to, for a reply that may stop there: an answer
    statement or label (tiers 1-2), or a reply opening with "B: ...", each followed by more
    text (so "The answer is B" is not taken before the next token shows it is not "Bob").
    A letter merely mentioned ("between (A) and (B)") does not count."""
    valid = {letter.upper() for letter in letters}
    found = [
        (match.start("letter"), match.group("letter").upper())
        for pattern in (*_TIERS[0], *_TIERS[1], _OPENING)
        for match in pattern.finditer(text)
        if match.group("letter").upper() in valid
        and match.end("letter") < len(text)
        and _stands_alone(text, match)
    ]
    return max(found)[1] if found else None


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
