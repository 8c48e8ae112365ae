"""Word error rate: word-level Levenshtein distance after normalisation.

Normalisation makes spelling choices that do not change what was said count as equal: case,
punctuation, hyphens ("well-known" = "well known"), thousands separators, and numbers written
as words or digits ("twenty-one" = "21", "one hundred and five" = "105"). Contractions are left
alone ("it's" is not "it is"): a recogniser should hear which one was said.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_UNITS = (  # noqa: SIM905 (a sentence of words reads better than a 20-line list)
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()  # noqa: SIM905
_NUMBER_WORDS = {w: i for i, w in enumerate(_UNITS)} | {w: 10 * i for i, w in enumerate(_TENS, 2)}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}


@dataclass(frozen=True)
class WordErrors:
    """Edits (substitutions + deletions + insertions) against `reference_words`."""

    edits: int
    reference_words: int

    @property
    def rate(self) -> float:
        return self.edits / self.reference_words if self.reference_words else float(self.edits > 0)

    def __add__(self, other: WordErrors) -> WordErrors:
        """Corpus WER adds edits and reference words, it does not average per-clip rates."""
        return WordErrors(self.edits + other.edits, self.reference_words + other.reference_words)


def normalise_words(text: str) -> list[str]:
    text = text.lower().replace("%", " percent ")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 1,000 -> 1000
    text = re.sub(r"[-‐‑–—/]", " ", text)  # hyphens, dashes, slashes separate words
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)  # keep decimal points only
    text = re.sub(r"[^\w\s'.]|(?<!\w)'|'(?!\w)", " ", text)  # keep in-word apostrophes
    return _numbers_to_digits(text.split())


def _numbers_to_digits(tokens: Sequence[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        value, used = _parse_number(tokens, i)
        if used:
            out.append(str(value))
            i += used
        else:
            out.append(tokens[i])
            i += 1
    return out


def _parse_number(tokens: Sequence[str], i: int) -> tuple[int, int]:
    """Read a spelled-out number at `tokens[i]`; return (value, tokens used), used 0 if none.

    Number words combine only as numbers are spoken: "twenty" + "one", "hundred" + anything,
    "one hundred and five"; "five six" and "nineteen ninety" stay two numbers each.
    """
    total = current = used = 0
    last = ""  # "", "unit" (0-19), "tens" (20-90) or "scale"
    while i + used < len(tokens):
        tok = tokens[i + used]
        if tok in _NUMBER_WORDS:
            value = _NUMBER_WORDS[tok]
            if last not in ("", "scale") and not (last == "tens" and 1 <= value <= 9):
                break
            current += value
            last = "tens" if value >= 20 else "unit"
        elif tok in _SCALES and last in ("unit", "tens"):
            if _SCALES[tok] == 100:
                current *= 100
            else:
                total, current = total + current * _SCALES[tok], 0
            last = "scale"
        elif (
            tok == "and"
            and last == "scale"
            and tokens[i + used + 1 : i + used + 2]
            and (tokens[i + used + 1] in _NUMBER_WORDS)
        ):
            pass  # "one hundred and five"
        else:
            break
        used += 1
    return total + current, used


def word_errors(reference: str, hypothesis: str) -> WordErrors:
    ref, hyp = normalise_words(reference), normalise_words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[:], i
        for j, h in enumerate(hyp, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (r != h))
    return WordErrors(row[-1], len(ref))


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of `hypothesis` against `reference` (0.0 is perfect; can exceed 1.0)."""
    return word_errors(reference, hypothesis).rate
