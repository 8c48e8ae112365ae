"""Prompt formats: how the input so far and the inferences so far are shown to the model.

The five LiveMind formats of the paper (u = one user message, ua = user/assistant turns;
p = prompt, l = last (new) prompt, i = inferences, s = in sequence) plus the
chain-of-thought baseline. Pure functions over the memory's steps.

Unlike the paper, inference calls and the final answer share one system prompt, and the final
instruction is appended at the end. With the append-only formats (`ua-spi`, `u-spi`) every
call's prompt then extends the previous one, so vLLM's prefix cache serves all earlier turns
and the final step only prefills the last piece of input and the instruction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from enum import StrEnum

from ..llm.base import Message
from .actions import ActionKind, format_action
from .memory import Step


class PromptFormat(StrEnum):
    U_PI = "u-pi"
    U_PLI = "u-pli"
    U_SPI = "u-spi"
    UA_PIL = "ua-pil"
    UA_SPI = "ua-spi"


LIVEMIND_SYSTEM = (
    "You are a helpful assistant solving a problem that the user is still typing or "
    "saying. The input reaches you piece by piece. For each new piece, either make one short "
    "inference that will help you answer once the input is complete, or wait for more. Reply "
    "with exactly one line: 'action inference. <your inference>' or 'action wait.'.\n"
    "When the user says the input is complete, answer directly: use your earlier inferences "
    "without mentioning them and keep any further reasoning short."
)
# Terse on purpose: the thinking happened while the user typed, so the last step only states
# the answer (the paper's "answer directly if you have obtained the answer").
FINAL_INSTRUCTION = (
    "[Input complete.] Now reply with only the final answer: no list of the options, not an action."
)
# A final step allowed to weigh the options briefly before its answer: a small model's letter
# straight after the question follows its position bias more than the question.
WEIGH_INSTRUCTION = (
    "[Input complete.] Weigh the options in one or two short sentences, then give the final answer."
)
COT_SYSTEM = (
    "You are a helpful assistant to solve a given problem. Solve the problem by thinking "
    "step by step."
)


def _split_at_last_inference(steps: Sequence[Step], new_text: str) -> tuple[str, str]:
    """(input up to the last inference, input after it): trailing waits count as new input."""
    inference_at = [i for i, s in enumerate(steps) if s.action.kind is ActionKind.INFERENCE]
    last = inference_at[-1] if inference_at else -1
    old = "".join(s.text for s in steps[: last + 1])
    new = "".join(s.text for s in steps[last + 1 :]) + new_text
    return old, new


def _numbered_inferences(steps: Sequence[Step]) -> str:
    contents = [s.action.content for s in steps if s.action.kind is ActionKind.INFERENCE]
    return " ".join(f"({n}) {c}" for n, c in enumerate(contents, 1))


def _sequence(steps: Sequence[Step], new_text: str) -> list[tuple[str, str]]:
    """Alternating ("prompt", text) / ("inference", text) runs; waits fold into the next prompt."""
    runs: list[tuple[str, str]] = []
    pending = ""
    for step in steps:
        pending += step.text
        if step.action.kind is ActionKind.INFERENCE:
            runs += [("prompt", pending), ("inference", format_action(step.action))]
            pending = ""
    if pending + new_text:
        runs.append(("prompt", pending + new_text))
    return runs


def format_u_pi(steps: Sequence[Step], new_text: str) -> list[Message]:
    text = "Incomplete prompt: " + "".join(s.text for s in steps) + new_text
    if inferences := _numbered_inferences(steps):
        text += "\nPrevious inferences: " + inferences
    return [{"role": "user", "content": text}]


def format_u_pli(steps: Sequence[Step], new_text: str) -> list[Message]:
    old, new = _split_at_last_inference(steps, new_text)
    parts = []
    if old:
        parts.append("Previous prompt: " + old)
    if new:
        parts.append("New prompt: " + new)
    if inferences := _numbered_inferences(steps):
        parts.append("Previous inferences: " + inferences)
    return [{"role": "user", "content": "\n".join(parts)}]


def format_u_spi(steps: Sequence[Step], new_text: str) -> list[Message]:
    labels = {"prompt": "Prompt: ", "inference": "Inference: "}
    lines = [labels[kind] + text for kind, text in _sequence(steps, new_text)]
    return [{"role": "user", "content": "\n".join(lines)}]


def format_ua_pil(steps: Sequence[Step], new_text: str) -> list[Message]:
    old, new = _split_at_last_inference(steps, new_text)
    if not old:
        return [{"role": "user", "content": new}]
    contents = [format_action(s.action) for s in steps if s.action.kind is ActionKind.INFERENCE]
    messages: list[Message] = [
        {"role": "user", "content": old},
        {"role": "assistant", "content": " ".join(contents)},
    ]
    if new:
        messages.append({"role": "user", "content": new})
    return messages


def format_ua_spi(steps: Sequence[Step], new_text: str) -> list[Message]:
    roles = {"prompt": "user", "inference": "assistant"}
    return [{"role": roles[kind], "content": text} for kind, text in _sequence(steps, new_text)]


FORMATTERS: dict[PromptFormat, Callable[[Sequence[Step], str], list[Message]]] = {
    PromptFormat.U_PI: format_u_pi,
    PromptFormat.U_PLI: format_u_pli,
    PromptFormat.U_SPI: format_u_spi,
    PromptFormat.UA_PIL: format_ua_pil,
    PromptFormat.UA_SPI: format_ua_spi,
}


def inference_messages(
    fmt: PromptFormat, history: Sequence[Message], steps: Sequence[Step], new_text: str
) -> list[Message]:
    """The prompt for an inference call on `new_text`, given earlier turns and steps."""
    return [
        {"role": "system", "content": LIVEMIND_SYSTEM},
        *history,
        *FORMATTERS[fmt](steps, new_text),
    ]


def final_messages(
    fmt: PromptFormat,
    history: Sequence[Message],
    steps: Sequence[Step],
    new_text: str,
    answer_instruction: str = "",
    final_instruction: str = FINAL_INSTRUCTION,
) -> list[Message]:
    """The prompt for the answer once input has ended: the same prompt plus the instruction."""
    messages = inference_messages(fmt, history, steps, new_text)
    instruction = " ".join(filter(None, [final_instruction, answer_instruction]))
    if messages[-1]["role"] == "user" and len(messages) > 1 + len(history):
        last = messages[-1]
        messages[-1] = {"role": "user", "content": f"{last['content']}\n\n{instruction}"}
    else:
        messages.append({"role": "user", "content": instruction})
    return messages


def baseline_messages(
    history: Sequence[Message], text: str, answer_instruction: str = ""
) -> list[Message]:
    """Chain-of-thought on the complete input: the paper's baseline."""
    content = f"{text}\n\n{answer_instruction}" if answer_instruction else text
    return [
        {"role": "system", "content": COT_SYSTEM},
        *history,
        {"role": "user", "content": content},
    ]


# How a reply that stated no option letter is continued to state one (the letter then follows,
# constrained to the question's labels): the phrase the multiple-choice instruction asks for.
LETTER_REQUEST = "\nThe answer is ("
# The assistant's answer to an open question is heard, not read.
SPOKEN_ANSWER_INSTRUCTION = (
    "Answer in one to three short sentences, as you would say them aloud: plain words, "
    "no markdown, no lists, no headings."
)


class SpokenText:
    """Turns a streamed reply into plain speech: markdown marks, headings and list bullets
    go, line breaks become spaces. Feed it the deltas in order, then `finish()`; each call
    returns the text to say so far. Small models format answers for a screen even when asked
    not to."""

    _MAYBE_MARKER = re.compile(r"\s*(?:#+|[-•]|\d+[.)]?)?")
    _MARKER = re.compile(r"\s*(?:#+|[-•]|\d+[.)])\s")

    def __init__(self) -> None:
        self._pending: str | None = ""  # a line's start while it may be a bullet; None: past it
        self._said = False  # anything said yet
        self._line_break = False  # a line ended since: the next words need a space

    def feed(self, delta: str) -> str:
        out: list[str] = []
        for char in delta:
            if char in "*_`":
                continue
            if char == "\n":
                out.append(self.finish())
                self._line_break = True
                self._pending = ""
            elif self._pending is None:
                out.append(self._say(char))
            else:
                self._pending += char
                if self._MARKER.fullmatch(self._pending):
                    self._pending = None  # a heading or bullet mark: not said
                elif not self._MAYBE_MARKER.fullmatch(self._pending):
                    out.append(self.finish())
        return "".join(out)

    def finish(self) -> str:
        """The start of the last line, if it is still held back."""
        pending, self._pending = self._pending, None
        return self._say((pending or "").lstrip())

    def _say(self, text: str) -> str:
        if not text:
            return ""
        if self._line_break and self._said and not text[0].isspace():
            text = " " + text
        self._line_break = False
        self._said = True
        return text
