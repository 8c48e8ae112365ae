"""LiveMind's action set: what the model does with a new piece of input.

`inference` records a conclusion drawn from the incomplete input; `wait` asks for more.
The wire format is the paper's: `action inference. <content>` or `action wait.`.
Parsing never raises: a reply that ignores the format is kept as an inference (it is still
the model's thinking), an empty one counts as a wait.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class ActionKind(StrEnum):
    INFERENCE = "inference"
    WAIT = "wait"


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    content: str = ""
    valid: bool = True  # the reply followed the action format


WAIT = Action(ActionKind.WAIT)

# What vLLM's structured outputs force a reply into: one sentence (a weak model otherwise
# repeats itself until the token limit). Decimal points ("1.5") do not end the sentence. Its
# length is bounded by the inference's token limit, not here: xgrammar computes the allowed
# tokens before every decoding step, in the engine's scheduler where every request waits for
# it, and a counted repetition ("{0,158}") makes that mask over 10,000 times slower
# (benchmarks/action_grammar.py; figures in benchmarks/RESULTS.md).
ACTION_REGEX = r"action (inference\. [^\s.!?]([^\n.!?]|\.[0-9])*[.!?]|wait\.)"

_WITH_PREFIX = re.compile(
    # One separator character at most: "action inference. -5 degrees" keeps its minus sign.
    r"^\W*action\W*(?P<kind>inference|infer|wait)\b\s*[.:\-,]?\s*(?P<content>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_BARE_INFERENCE = re.compile(
    r"^\W*(?:inference|infer)\s*[.:\-]\s*(?P<content>.*)$", re.IGNORECASE | re.DOTALL
)
_BARE_WAIT = re.compile(r"^\W*wait\W*$", re.IGNORECASE)


def parse_action(reply: str) -> Action:
    """Read a model reply as an action, leniently (case, spacing, a missing `action` prefix)."""
    text = reply.strip()
    if not text:
        return Action(ActionKind.WAIT, valid=False)
    if match := _WITH_PREFIX.match(text):
        if match["kind"].lower() == "wait":
            return WAIT
        content = match["content"].strip()
        return Action(ActionKind.INFERENCE, content) if content else Action(ActionKind.WAIT)
    if match := _BARE_INFERENCE.match(text):
        content = match["content"].strip()
        return Action(ActionKind.INFERENCE, content, valid=False)
    if _BARE_WAIT.match(text):
        return Action(ActionKind.WAIT, valid=False)
    return Action(ActionKind.INFERENCE, text, valid=False)


def format_action(action: Action) -> str:
    """The canonical reply text for `action`, as the model is shown its own past actions."""
    if action.kind is ActionKind.WAIT:
        return "action wait."
    return f"action inference. {action.content}"
