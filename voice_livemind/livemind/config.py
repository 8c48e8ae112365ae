"""How a LiveMind session behaves: its mode, prompt format, segmenting, sampling and speculation.

Every default is written here once; the command line builds its options from these fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ..llm.base import SamplingSettings
from .actions import ACTION_REGEX
from .prompts import FINAL_INSTRUCTION, PromptFormat
from .segmenter import Granularity


class Mode(StrEnum):
    LIVEMIND = "livemind"
    BASELINE = "baseline"  # chain-of-thought once input has ended


class Speculate(StrEnum):
    """Which sessions start their answer when the user pauses (`LiveMindSession.speculate`)."""

    LIVEMIND = "livemind"  # LiveMind's last step is short enough to prepare in a pause
    ALL = "all"  # the baseline too: its chain of thought starts in the pause as well
    OFF = "off"


class AnswerStyle(StrEnum):
    """What the final answer is made of."""

    TEXT = "text"  # the model's reply; a multiple-choice one ends by stating its letter
    SPOKEN = "spoken"  # what a person would say: "B: <the option>", or short plain sentences


class EndPolicy(StrEnum):
    ABORT = "abort"  # drop the in-flight inference and answer at once
    WAIT = "wait"  # let it finish first (the paper's behaviour)


@dataclass(frozen=True)
class SessionConfig:
    mode: Mode = Mode.LIVEMIND
    prompt_format: PromptFormat = PromptFormat.U_SPI
    granularity: Granularity = Granularity.SENT
    min_segment_chars: int = 10
    end_policy: EndPolicy = EndPolicy.ABORT
    # Inferences are short, one sentence, and discouraged from echoing the input (small
    # models otherwise copy the question back or loop).
    inference: SamplingSettings = field(
        default_factory=lambda: SamplingSettings(
            max_tokens=48, regex=ACTION_REGEX, repetition_penalty=1.2
        )
    )
    # The same for LiveMind's final step and the baseline. A mild repetition penalty keeps small
    # models from copying the option list back or looping until the token limit.
    answer: SamplingSettings = field(
        default_factory=lambda: SamplingSettings(max_tokens=256, repetition_penalty=1.1)
    )
    # Appended to the final instruction. Left empty, a question with options gets the
    # multiple-choice instruction ("...end with 'The answer is (X)'"), and in the spoken style
    # an open question the spoken-answer one.
    answer_instruction: str = ""
    # LiveMind's final reply to a question with options opens with this text (assistant
    # prefill), e.g. "The answer is (", and then the letter, constrained to the question's
    # labels: the thinking happened while the user typed, so the last step goes straight to
    # the answer. Empty: the reply is free (bounded by `answer.max_tokens`) and the letter is
    # read from it or, if it states none, asked for in one constrained continuation. The
    # baseline never gets it: its chain of thought must come before the answer.
    answer_prefix: str = ""
    # A letter the model is asked for after "The answer is (" (the prefill, or the continuation
    # of a reply that states none) is the one that most exceeds the model's prior for it
    # (`calibration.py`), not its most likely one: a small model's lean towards one letter
    # otherwise answers every question alike. Off: the greedy letter.
    calibrate_letter: bool = True
    answer_style: AnswerStyle = AnswerStyle.TEXT
    # What LiveMind's final step is told once input has ended (prompts.FINAL_INSTRUCTION: the
    # answer alone; prompts.WEIGH_INSTRUCTION: a sentence or two on the options first).
    final_instruction: str = FINAL_INSTRUCTION
    # Start the final answer when the user pauses (`speculate()`), keep it if input ends there.
    speculate: Speculate = Speculate.LIVEMIND

    def __post_init__(self) -> None:
        # "all" works as well as Speculate.ALL; anything else (a bool: True meant nothing and
        # silently turned speculation off) is an error.
        if not isinstance(self.speculate, str):
            raise TypeError(f"speculate must be one of {[s.value for s in Speculate]}")
        object.__setattr__(self, "speculate", Speculate(self.speculate))

    @property
    def speculates(self) -> bool:
        return self.speculate is Speculate.ALL or (
            self.speculate is Speculate.LIVEMIND and self.mode is Mode.LIVEMIND
        )
