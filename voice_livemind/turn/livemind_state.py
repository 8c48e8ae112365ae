"""LiveMind's own end-of-turn evidence, as plain values the session passes in.

LiveMind has read the question sentence by sentence: an inference may have judged the question
complete (or not yet), and an answer prepared in the current pause may be ready to speak. The
session fills this in; the fusion (`fusion.py`) does not know where it came from.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LiveMindState:
    # What the latest inference said: True "the question is complete", False "more is coming",
    # None: no inference has judged the text heard so far.
    question_complete: bool | None = None
    answer_ready: bool = False  # an answer prepared for the text so far is ready to speak

    @property
    def says_complete(self) -> bool:
        return self.question_complete is True and self.answer_ready

    @property
    def says_incomplete(self) -> bool:
        return self.question_complete is False
