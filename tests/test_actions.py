"""Parsing model replies into actions: lenient, never raising; and the structured-output regex."""

from __future__ import annotations

import random
import re

import pytest

from voice_livemind.livemind.actions import (
    ACTION_REGEX,
    WAIT,
    Action,
    ActionKind,
    format_action,
    parse_action,
)


@pytest.mark.parametrize(
    ("reply", "content"),
    [
        ("action inference. The speed is 18 km/h.", "The speed is 18 km/h."),
        ("Action Inference: The speed is 18 km/h.", "The speed is 18 km/h."),
        ("ACTION INFERENCE - x is 3", "x is 3"),
        ("  action inference.   padded content  \n", "padded content"),
        ("**Action**: inference. bold markdown", "bold markdown"),
        ("action infer. short verb", "short verb"),
        ("action inference. two\nlines", "two\nlines"),
    ],
)
def test_prefixed_inference_is_valid_and_keeps_its_content(reply, content):
    assert parse_action(reply) == Action(ActionKind.INFERENCE, content, valid=True)


@pytest.mark.parametrize(
    "reply", ["action wait.", "  ACTION   WAIT.", "Action: wait", "action wait. more please"]
)
def test_prefixed_wait_is_a_valid_wait(reply):
    assert parse_action(reply) == WAIT
    assert parse_action(reply).valid


@pytest.mark.parametrize(
    ("reply", "content"),
    [("inference: the train is late", "the train is late"), ("Inference. 42", "42")],
)
def test_inference_without_action_prefix_is_kept_but_invalid(reply, content):
    assert parse_action(reply) == Action(ActionKind.INFERENCE, content, valid=False)


@pytest.mark.parametrize("reply", ["wait", "Wait.", "  WAIT!  "])
def test_bare_wait_is_an_invalid_wait(reply):
    assert parse_action(reply) == Action(ActionKind.WAIT, valid=False)


@pytest.mark.parametrize("reply", ["", "   ", "\n\t"])
def test_empty_reply_is_an_invalid_wait(reply):
    assert parse_action(reply) == Action(ActionKind.WAIT, valid=False)


@pytest.mark.parametrize(
    "reply",
    [
        "The farmer ends up with 17 sheep.",
        "Actions speak louder than words.",
        "Waiting is the hardest part.",
        "Inference is hard",
    ],
)
def test_free_prose_is_an_invalid_inference_with_the_whole_text(reply):
    assert parse_action(reply) == Action(ActionKind.INFERENCE, reply, valid=False)


def test_prose_is_stripped_of_surrounding_whitespace():
    assert parse_action("  some prose \n") == Action(ActionKind.INFERENCE, "some prose", False)


@pytest.mark.parametrize("reply", ["action inference.", "action inference:  ", "ACTION INFER"])
def test_inference_with_no_content_counts_as_wait(reply):
    action = parse_action(reply)
    assert action.kind is ActionKind.WAIT
    assert action.content == ""


def test_parse_never_raises_on_odd_input():
    rng = random.Random(0)
    alphabet = "actioninferwaWIT .:-,!?\n\t😀éß—«»()[]{}\\*#\x00\u200b"
    odd = ["...", "!!!", "😀😀", "\x00", "action", "action action wait", "—", "\u200b"]
    odd += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(500)]
    for reply in odd:
        action = parse_action(reply)
        assert action.kind in (ActionKind.INFERENCE, ActionKind.WAIT)
        if action.kind is ActionKind.WAIT:
            assert action.content == ""
        else:
            assert action.content and action.content == action.content.strip()


def test_format_action_wire_format():
    assert format_action(WAIT) == "action wait."
    assert format_action(Action(ActionKind.INFERENCE, "x is 3")) == "action inference. x is 3"


@pytest.mark.parametrize(
    "action",
    [
        WAIT,
        Action(ActionKind.INFERENCE, "The speed is 18 km/h."),
        Action(ActionKind.INFERENCE, "Two sentences. Second: with colon, and comma."),
        Action(ActionKind.INFERENCE, "Ünïcödé 😀 content"),
        Action(ActionKind.INFERENCE, "action wait."),
    ],
)
def test_format_then_parse_round_trips(action):
    assert parse_action(format_action(action)) == action


@pytest.mark.parametrize("content", ["-5 degrees is freezing.", "...and then it rained."])
def test_round_trip_keeps_leading_punctuation_of_content(content):
    action = Action(ActionKind.INFERENCE, content)
    assert parse_action(format_action(action)) == action


def _fits(reply: str) -> bool:
    return re.fullmatch(ACTION_REGEX, reply) is not None


@pytest.mark.parametrize(
    "reply",
    [
        "action wait.",
        "action inference. The speed is 18 km/h.",
        "action inference. x.",
        "action inference. It costs 1.5 dollars, not 2.25!",
        "action inference. Is it hot?",
        "action inference. " + "y" * 400 + ".",  # the token limit bounds it, not the regex
    ],
)
def test_action_regex_accepts_one_sentence_actions(reply):
    assert _fits(reply)
    assert parse_action(reply).valid


@pytest.mark.parametrize(
    "reply",
    [
        "action inference. first line\nsecond line.",
        "action inference. One sentence. Then another.",
        "action inference. no sentence end",
        "action inference. 298 K. 298 K.",
        "action inference.  leading space.",
        "action inference. ",
        "action inference.",
        "Action wait.",
        "action wait. extra",
        "wait.",
        " action wait.",
        "the answer is 42",
    ],
)
def test_action_regex_rejects_everything_else(reply):
    assert not _fits(reply)


def test_every_regex_conforming_reply_parses_as_valid_with_its_content():
    rng = random.Random(1)
    for _ in range(200):
        body = rng.choice("abcXYZ19") + "".join(
            rng.choice(["a", "b", " ", "x", ",", ":", ";", "-", "7", ".5"])
            for _ in range(rng.randint(0, 70))
        )
        content = body + rng.choice(".!?")
        reply = f"action inference. {content}"
        assert _fits(reply), reply
        action = parse_action(reply)
        assert action.kind is ActionKind.INFERENCE
        assert action.content == content and action.valid


def test_action_regex_has_no_counted_repetition():
    """A counted repetition ("{0,158}") made xgrammar's allowed-token mask cost about 0.2 s of
    CPU per generated token in vLLM's scheduler (benchmarks/action_grammar.py), stalling every
    request in the engine; the inference's token limit bounds the length instead."""
    assert not re.search(r"\{\d*,?\d*\}", ACTION_REGEX)
