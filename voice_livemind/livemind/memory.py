"""Inference memory: what the model concluded so far, keyed by the input it had seen.

Each step records the piece of input it consumed and the action the model took on it, so
step k is keyed by the input prefix `steps[0].text + ... + steps[k].text`. When the input is
revised (an ASR correction, an edit), only the steps whose prefix no longer matches are
dropped; the rest of the thinking survives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .actions import WAIT, Action, ActionKind


@dataclass(frozen=True)
class Step:
    text: str  # the input this step consumed (new since the previous step)
    action: Action


class InferenceMemory:
    def __init__(self) -> None:
        self._steps: list[Step] = []

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(self._steps)

    @property
    def consumed_text(self) -> str:
        """The input prefix that the recorded steps have covered."""
        return "".join(step.text for step in self._steps)

    def inferences(self) -> list[str]:
        return [s.action.content for s in self._steps if s.action.kind is ActionKind.INFERENCE]

    def record(self, text: str, action: Action) -> None:
        self._steps.append(Step(text, action))

    def revise(self, input_text: str) -> int:
        """Keep the steps whose input prefix `input_text` still starts with; return # dropped."""
        common = common_prefix_len(self.consumed_text, input_text)
        kept, end = 0, 0
        for step in self._steps:
            end += len(step.text)
            if end > common:
                break
            kept += 1
        dropped = len(self._steps) - kept
        del self._steps[kept:]
        return dropped

    def forget_oldest_inference(self) -> bool:
        """Turn the oldest inference into a wait (its input stays) to free context."""
        for i, step in enumerate(self._steps):
            if step.action.kind is ActionKind.INFERENCE:
                self._steps[i] = replace(step, action=WAIT)
                return True
        return False

    def clear(self) -> None:
        self._steps.clear()


def common_prefix_len(a: str, b: str) -> int:
    """How many leading characters `a` and `b` share."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
