"""Inference memory: steps keyed by input prefix, revision, forgetting."""

from __future__ import annotations

import pytest

from voice_livemind.livemind.actions import WAIT, Action, ActionKind
from voice_livemind.livemind.memory import InferenceMemory, Step, common_prefix_len

ONE, TWO, THREE = "One fish. ", "Two fish. ", "Red fish. "


def infer(content: str) -> Action:
    return Action(ActionKind.INFERENCE, content)


@pytest.fixture
def memory() -> InferenceMemory:
    memory = InferenceMemory()
    memory.record(ONE, infer("i1"))
    memory.record(TWO, WAIT)
    memory.record(THREE, infer("i3"))
    return memory


def test_new_memory_is_empty():
    memory = InferenceMemory()
    assert memory.steps == ()
    assert memory.consumed_text == ""
    assert memory.inferences() == []


def test_record_keeps_steps_in_order(memory):
    assert memory.steps == (
        Step(ONE, infer("i1")),
        Step(TWO, WAIT),
        Step(THREE, infer("i3")),
    )
    assert memory.consumed_text == ONE + TWO + THREE
    assert memory.inferences() == ["i1", "i3"]


def test_steps_is_a_snapshot(memory):
    steps = memory.steps
    memory.record("more", WAIT)
    assert len(steps) == 3
    assert len(memory.steps) == 4


def test_revise_with_unchanged_or_extended_text_keeps_everything(memory):
    assert memory.revise(ONE + TWO + THREE) == 0
    assert memory.revise(ONE + TWO + THREE + "Blue fish.") == 0
    assert len(memory.steps) == 3


def test_revise_inside_step_two_drops_steps_two_and_three(memory):
    assert memory.revise(ONE + "Tw0 fish. " + THREE) == 2
    assert memory.steps == (Step(ONE, infer("i1")),)
    assert memory.consumed_text == ONE


def test_revise_at_the_last_character_of_a_step_drops_that_step(memory):
    assert memory.revise(ONE + TWO[:-1] + "!" + THREE) == 2
    assert memory.consumed_text == ONE


def test_revise_that_truncates_inside_the_last_step_drops_only_it(memory):
    assert memory.revise(ONE + TWO + "Red") == 1
    assert memory.consumed_text == ONE + TWO


def test_revise_that_truncates_at_a_step_boundary_keeps_the_covered_steps(memory):
    assert memory.revise(ONE) == 2
    assert memory.steps == (Step(ONE, infer("i1")),)


def test_revise_of_the_first_character_drops_everything(memory):
    assert memory.revise("X" + (ONE + TWO + THREE)[1:]) == 3
    assert memory.steps == ()
    assert memory.revise("anything") == 0


def test_forget_oldest_inference_turns_it_into_a_wait_and_keeps_its_input(memory):
    assert memory.forget_oldest_inference()
    assert memory.steps == (Step(ONE, WAIT), Step(TWO, WAIT), Step(THREE, infer("i3")))
    assert memory.consumed_text == ONE + TWO + THREE
    assert memory.forget_oldest_inference()
    assert memory.inferences() == []
    assert not memory.forget_oldest_inference()
    assert len(memory.steps) == 3


def test_clear_empties_the_memory(memory):
    memory.clear()
    assert memory.steps == ()
    assert memory.consumed_text == ""


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("", "", 0),
        ("", "abc", 0),
        ("abc", "abc", 3),
        ("abc", "abd", 2),
        ("ab", "abc", 2),
        ("abc", "ab", 2),
        ("xbc", "abc", 0),
        ("héllo 😀!", "héllo 😀?", 7),
    ],
)
def test_common_prefix_len(a, b, expected):
    assert common_prefix_len(a, b) == expected
    assert a[:expected] == b[:expected]
