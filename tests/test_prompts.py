"""Prompt formats: exact messages, the append-only property, final and baseline prompts."""

from __future__ import annotations

import pytest

from voice_livemind.livemind.actions import WAIT, Action, ActionKind
from voice_livemind.livemind.memory import Step
from voice_livemind.livemind.prompts import (
    COT_SYSTEM,
    FINAL_INSTRUCTION,
    LIVEMIND_SYSTEM,
    PromptFormat,
    baseline_messages,
    final_messages,
    inference_messages,
)


def infer(content: str) -> Action:
    return Action(ActionKind.INFERENCE, content)


# Input "A. B. C. " then new text "D.": inference on A, wait on B, inference on B+C.
STEPS = [Step("A. ", infer("ia")), Step("B. ", WAIT), Step("C. ", infer("ic"))]
NEW = "D."
HISTORY = [
    {"role": "user", "content": "Earlier question?"},
    {"role": "assistant", "content": "Earlier answer."},
]
SYSTEM = {"role": "system", "content": LIVEMIND_SYSTEM}


def body(fmt: PromptFormat, steps=STEPS, new_text=NEW, history=()) -> list[dict]:
    messages = inference_messages(fmt, list(history), steps, new_text)
    assert messages[0] == SYSTEM
    assert messages[1 : 1 + len(history)] == list(history)
    return messages[1 + len(history) :]


def render(messages) -> str:
    return "".join(f"<{m['role']}>{m['content']}</>" for m in messages)


def render_open(messages) -> str:
    """The rendering without the closing of the last message (it may still grow)."""
    return render(messages)[: -len("</>")]


def test_ua_spi_alternates_user_input_and_assistant_actions():
    assert body(PromptFormat.UA_SPI) == [
        {"role": "user", "content": "A. "},
        {"role": "assistant", "content": "action inference. ia"},
        {"role": "user", "content": "B. C. "},
        {"role": "assistant", "content": "action inference. ic"},
        {"role": "user", "content": "D."},
    ]


def test_u_spi_is_one_user_message_with_labelled_lines():
    assert body(PromptFormat.U_SPI) == [
        {
            "role": "user",
            "content": "Prompt: A. \n"
            "Inference: action inference. ia\n"
            "Prompt: B. C. \n"
            "Inference: action inference. ic\n"
            "Prompt: D.",
        }
    ]


def test_u_pi_shows_whole_input_then_numbered_inferences():
    (message,) = body(PromptFormat.U_PI)
    assert message == {
        "role": "user",
        "content": "Incomplete prompt: A. B. C. D.\nPrevious inferences: (1) ia (2) ic",
    }


def test_u_pi_without_inferences_has_no_inference_line():
    (message,) = body(PromptFormat.U_PI, steps=[Step("A. ", WAIT)])
    assert message["content"] == "Incomplete prompt: A. D."


def test_u_pli_splits_input_at_the_last_inference():
    (message,) = body(PromptFormat.U_PLI)
    assert message["role"] == "user"
    lines = message["content"].split("\n")
    assert lines == [
        "Previous prompt: A. B. C. ",
        "New prompt: D.",
        "Previous inferences: (1) ia (2) ic",
    ]


def test_u_pli_counts_trailing_waits_as_new_input():
    steps = [Step("A. ", infer("ia")), Step("B. ", WAIT)]
    (message,) = body(PromptFormat.U_PLI, steps=steps)
    assert "Previous prompt: A. \nNew prompt: B. D." in message["content"]


def test_ua_pil_puts_old_input_then_all_inferences_then_new_input():
    assert body(PromptFormat.UA_PIL) == [
        {"role": "user", "content": "A. B. C. "},
        {"role": "assistant", "content": "action inference. ia action inference. ic"},
        {"role": "user", "content": "D."},
    ]


def test_ua_pil_without_inferences_is_just_the_input():
    steps = [Step("A. ", WAIT)]
    assert body(PromptFormat.UA_PIL, steps=steps) == [{"role": "user", "content": "A. D."}]


@pytest.mark.parametrize("fmt", list(PromptFormat))
def test_every_format_shows_all_input_and_all_inferences(fmt):
    messages = body(fmt)
    text = render(messages)
    for piece in ["A. ", "B. ", "C. ", "D.", "ia", "ic"]:
        assert piece in text, (fmt, piece)
    assert messages[-1]["role"] == "user"


@pytest.mark.parametrize("fmt", list(PromptFormat))
def test_history_sits_between_system_prompt_and_this_turn(fmt):
    messages = inference_messages(fmt, HISTORY, STEPS, NEW)
    assert messages[:3] == [SYSTEM, *HISTORY]
    assert "A. " in render(messages[3:])


# Inferences and waits alternate so both branches of the formats are exercised.
APPEND_TEXTS = ["First part. ", "Second part, ", "third. ", "Fourth one. ", "Last bit?"]
APPEND_ACTIONS = [infer("one"), WAIT, infer("two"), WAIT, infer("three")]


@pytest.mark.parametrize("fmt", [PromptFormat.UA_SPI, PromptFormat.U_SPI])
@pytest.mark.parametrize("history", [[], HISTORY], ids=["no-history", "history"])
def test_append_only_formats_extend_the_previous_prompt(fmt, history):
    steps: list[Step] = []
    previous = None
    for text, action in zip(APPEND_TEXTS, APPEND_ACTIONS, strict=True):
        messages = inference_messages(fmt, history, steps, text)
        if previous is not None:
            assert render(messages).startswith(render_open(previous)), (fmt, len(steps))
        previous = messages
        steps.append(Step(text, action))
    final = final_messages(fmt, history, steps, "Trailing input.", "Be brief.")
    assert render(final).startswith(render_open(previous))


@pytest.mark.parametrize("fmt", [PromptFormat.U_PI, PromptFormat.U_PLI, PromptFormat.UA_PIL])
def test_other_formats_rewrite_earlier_parts_of_the_prompt(fmt):
    one = [Step("First part. ", infer("one"))]
    two = [*one, Step("Second part. ", infer("two"))]
    after_one = inference_messages(fmt, [], one, "Second part. ")
    after_two = inference_messages(fmt, [], two, "Third.")
    assert not render(after_two).startswith(render_open(after_one))


@pytest.mark.parametrize("fmt", list(PromptFormat))
def test_final_prompt_shares_the_system_prompt_and_ends_with_the_instruction(fmt):
    messages = final_messages(fmt, HISTORY, STEPS, NEW, "End with 'The answer is (X)'.")
    assert messages[0] == SYSTEM
    assert messages[1:3] == HISTORY
    last = messages[-1]
    assert last["role"] == "user"
    assert last["content"].endswith(f"{FINAL_INSTRUCTION} End with 'The answer is (X)'.")
    assert "D." in last["content"]  # the pending input is in the same message


def test_final_prompt_ua_spi_exact():
    assert final_messages(PromptFormat.UA_SPI, [], STEPS, NEW, "Be brief.")[1:] == [
        {"role": "user", "content": "A. "},
        {"role": "assistant", "content": "action inference. ia"},
        {"role": "user", "content": "B. C. "},
        {"role": "assistant", "content": "action inference. ic"},
        {"role": "user", "content": f"D.\n\n{FINAL_INSTRUCTION} Be brief."},
    ]


def test_final_prompt_after_an_inference_with_no_pending_input_adds_a_user_message():
    messages = final_messages(PromptFormat.UA_SPI, HISTORY, STEPS, "")
    assert messages[-2] == {"role": "assistant", "content": "action inference. ic"}
    assert messages[-1] == {"role": "user", "content": FINAL_INSTRUCTION}


def test_final_prompt_with_no_input_does_not_glue_the_instruction_to_history():
    messages = final_messages(PromptFormat.UA_SPI, HISTORY, [], "")
    assert messages == [SYSTEM, *HISTORY, {"role": "user", "content": FINAL_INSTRUCTION}]


def test_final_prompt_without_answer_instruction_has_no_trailing_space():
    messages = final_messages(PromptFormat.U_PI, [], STEPS, NEW)
    assert messages[-1]["content"].endswith(f"\n\n{FINAL_INSTRUCTION}")


def test_baseline_is_chain_of_thought_on_the_full_text():
    assert baseline_messages(HISTORY, "Full question?", "Be brief.") == [
        {"role": "system", "content": COT_SYSTEM},
        *HISTORY,
        {"role": "user", "content": "Full question?\n\nBe brief."},
    ]
    assert baseline_messages([], "Full question?")[-1] == {
        "role": "user",
        "content": "Full question?",
    }
