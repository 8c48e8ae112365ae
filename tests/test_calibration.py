"""The letter prior and the calibrated letter: logic on a scripted engine (the real engine's
log-probabilities are tested in test_vllm_engine.py and test_openai_engine.py)."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from scripted_engine import ScriptedEngine, reasoning_then_letter

from voice_livemind.livemind import calibration
from voice_livemind.livemind.calibration import (
    PRIOR_PROMPTS,
    calibration_prompts,
    label_logprobs,
    letter_prior,
)
from voice_livemind.livemind.choices import (
    OptionStyle,
    calibrated_letter,
    option_style,
    parse_options,
)
from voice_livemind.livemind.config import AnswerStyle, Mode, SessionConfig
from voice_livemind.livemind.session import LiveMindSession, letter_prompt

LABELS = ("A", "B", "C", "D")
QUESTION = "When does it arrive? (A) at noon (B) at two (C) at three (D) never"


def logs(**probs: float) -> dict[str, float]:
    return {token: math.log(p) for token, p in probs.items()}


@pytest.fixture(autouse=True)
def no_measured_priors(monkeypatch):
    monkeypatch.setattr(calibration, "_priors", {})


def test_the_calibrated_letter_is_the_one_most_above_its_prior():
    odds = logs(A=0.5, B=0.3, C=0.1, D=0.1)
    assert calibrated_letter(odds, logs(A=0.25, B=0.25, C=0.25, D=0.25), LABELS) == "A"
    assert calibrated_letter(odds, logs(A=0.7, B=0.1, C=0.1, D=0.1), LABELS) == "B"


def test_a_label_outside_the_top_tokens_is_never_chosen_and_a_missing_prior_is_no_boost():
    odds = logs(A=0.6, B=0.4)
    assert calibrated_letter(odds, logs(A=0.9, B=0.09, C=0.01), LABELS) == "B"
    # C has no prior: it gets the smallest one seen (B's), not an unbounded boost.
    assert calibrated_letter(logs(B=0.5, C=0.4), logs(A=0.8, B=0.2), LABELS) == "B"
    # A tie goes to the more likely letter.
    assert calibrated_letter(logs(A=0.2, B=0.4), logs(A=0.2, B=0.4), LABELS) == "B"
    assert calibrated_letter({}, logs(A=1.0), LABELS) is None


def test_label_logprobs_merge_spellings_of_a_label_and_renormalise():
    top = logs(**{"A": 0.3, " A": 0.1, "B": 0.2, "the": 0.3, "J": 0.1})
    found = label_logprobs(top, LABELS)
    assert set(found) == {"A", "B"}
    assert math.exp(found["A"]) == pytest.approx(2 / 3)
    assert sum(math.exp(v) for v in found.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("style", list(OptionStyle))
@pytest.mark.parametrize("k", [2, 4, 10])
def test_calibration_prompts_put_each_option_text_under_each_label_once(k, style):
    labels = "ABCDEFGHIJ"[:k]
    prompts = calibration_prompts(labels, style)
    assert all(option_style(p) is style for p in prompts)
    assert len(prompts) <= max(PRIOR_PROMPTS, k)
    by_question = Counter(p.split("?", 1)[0] for p in prompts)
    assert set(by_question.values()) == {k}
    for question in by_question:
        seen = [parse_options(p) for p in prompts if p.startswith(question)]
        assert all([o.label for o in options] == list(labels) for options in seen)
        for label in labels:  # under each label, every text of the question once
            texts = [o.text for options in seen for o in options if o.label == label]
            assert len(set(texts)) == k


LEAN = {"A": 0.7, "B": 0.1, "C": 0.1, "D": 0.1}  # the model's lean, whatever the question


def leaning_to_a(messages):
    """Letter odds of a model that leans to A and, of the options in its last user message,
    likes "at two" three times as much as any other text."""
    last = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    options = parse_options(last)
    weights = {o.label: LEAN[o.label] * (3.0 if o.text == "at two" else 1.0) for o in options}
    total = sum(weights.values())
    return {label: math.log(w / total) for label, w in weights.items()}


async def test_the_prior_is_measured_once_per_engine_labels_and_prompt_shape():
    engine = ScriptedEngine("A)", logprobs=leaning_to_a)
    build = letter_prompt(SessionConfig())
    prior = await letter_prior(engine, build, LABELS, ")")
    assert len(engine.calls) == len(calibration_prompts(LABELS))
    assert all(c.settings.max_tokens == 1 and c.settings.top_logprobs for c in engine.calls)
    assert math.exp(prior["A"]) == pytest.approx(0.7)
    assert sum(math.exp(v) for v in prior.values()) == pytest.approx(1.0)
    assert await letter_prior(engine, build, LABELS, ")") == prior
    assert len(engine.calls) == len(calibration_prompts(LABELS))  # kept, not measured again
    await letter_prior(engine, letter_prompt(SessionConfig(mode=Mode.BASELINE)), LABELS, ")")
    assert len(engine.calls) == 2 * len(calibration_prompts(LABELS))


def letter_after_prefill(reply: str):
    """Answers `reply`; asked for a letter after "... is (", says A (its greedy letter)."""
    return reasoning_then_letter(reply, "A")


@pytest.mark.parametrize("calibrate", [True, False])
@pytest.mark.parametrize("prefix", ["The answer is (", ""])
async def test_the_session_answers_with_the_calibrated_letter(calibrate, prefix):
    engine = ScriptedEngine(letter_after_prefill("The train is fast."), logprobs=leaning_to_a)
    config = SessionConfig(answer_prefix=prefix, calibrate_letter=calibrate)
    session = LiveMindSession(engine, config)
    session.feed(QUESTION)
    result = await session.end()
    letter = "B" if calibrate else "A"  # greedy A; B ("at two") once the lean is divided out
    assert result.answer.endswith(f"The answer is ({letter})")
    prior_calls = [c for c in engine.calls if c.request_id.startswith("prior-")]
    rotations = [c for c in engine.calls if "-answer-r" in c.request_id]
    if not calibrate:
        assert not prior_calls and not rotations
    elif prefix:  # the letter alone: the options rotated under the labels, no prior needed
        assert not prior_calls and len(rotations) == 4
        restated = [parse_options(c.last_user)[0].text for c in rotations]
        assert sorted(restated) == ["at noon", "at three", "at two", "never"]
    else:  # the letter after a free reply: the prior, measured once
        assert len(prior_calls) == len(calibration_prompts(LABELS)) and not rotations


async def test_the_prior_is_measured_in_the_style_the_question_writes_its_options():
    engine = ScriptedEngine(letter_after_prefill("It is late."), logprobs=leaning_to_a)
    session = LiveMindSession(engine, SessionConfig(answer_prefix=""))
    session.feed("When does it arrive? Option A, at noon. Option B, at two. Option C, never.")
    await session.end()
    prior_calls = [c for c in engine.calls if c.request_id.startswith("prior-")]
    assert prior_calls and all("Option A: " in c.last_user for c in prior_calls)


async def test_the_spoken_style_says_the_calibrated_option():
    engine = ScriptedEngine(letter_after_prefill(""), logprobs=leaning_to_a)
    config = SessionConfig(answer_prefix="The answer is (", answer_style=AnswerStyle.SPOKEN)
    session = LiveMindSession(engine, config)
    session.feed(QUESTION)
    assert (await session.end()).answer == "B: at two."


async def test_an_engine_without_log_probabilities_keeps_its_greedy_letter():
    engine = ScriptedEngine(letter_after_prefill(""))
    session = LiveMindSession(engine, SessionConfig(answer_prefix="The answer is ("))
    session.feed(QUESTION)
    assert (await session.end()).answer == "The answer is (A)"
    assert len(engine.calls) == 1


@pytest.mark.parametrize("prefix", ["", "The answer is ("])
async def test_warming_up_measures_the_prior_the_first_answer_would_wait_for(prefix):
    engine = ScriptedEngine(letter_after_prefill("It is late."), logprobs=leaning_to_a)
    config = SessionConfig(answer_prefix=prefix, answer_style=AnswerStyle.SPOKEN)
    session = LiveMindSession(engine, config)
    await session.warm_up()
    measured = [c for c in engine.calls if c.request_id.startswith("prior-")]
    # After the prefill the options are rotated instead: no prior to measure.
    assert len(measured) == (0 if prefix else len(calibration_prompts(LABELS)))
    session.feed("When does it arrive? Option A: at noon. Option B: at two. Option C: at three. "
                 "Option D: never.")  # fmt: skip
    assert (await session.end()).answer == "B: at two."
    assert len([c for c in engine.calls if c.request_id.startswith("prior-")]) == len(measured)
