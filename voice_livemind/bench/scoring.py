"""Scoring a model's reply to a multiple-choice question.

The letter a reply states is read by `livemind.choices.extract_answer` (its docstring gives the
rules), the same reader the session uses to decide whether a reply still needs its letter.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..livemind.choices import extract_answer
from .datasets import Question

__all__ = ["Score", "extract_answer", "score_answer"]


@dataclass(frozen=True)
class Score:
    """One reply scored: what it answered (None if nothing parsed) and whether that is right."""

    predicted: str | None
    correct: bool
    parsed: bool


def score_answer(text: str, question: Question) -> Score:
    """Score a reply against the question's correct letter."""
    predicted = extract_answer(text, question.letters)
    return Score(predicted, predicted == question.answer, predicted is not None)
