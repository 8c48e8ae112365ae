"""LiveMindSession on a scripted engine: when calls are made, what they see, how turns end."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from scripted_engine import (
    DEFAULT_ANSWER,
    ScriptedEngine,
    approx_tokens,
    drain,
    is_answer_prompt,
    reasoning_then_letter,
    wait_until,
)

from voice_livemind.events import (
    AnswerDelta,
    AnswerDone,
    AnswerFirstToken,
    AnswerStarted,
    ErrorEvent,
    EventBus,
    InferenceAborted,
    InferenceDone,
    InferenceStarted,
    InputEnded,
    InputRevised,
    JsonlLog,
    SegmentCommitted,
)
from voice_livemind.livemind.config import AnswerStyle, EndPolicy, Mode, SessionConfig
from voice_livemind.livemind.prompts import (
    COT_SYSTEM,
    FINAL_INSTRUCTION,
    LIVEMIND_SYSTEM,
    SPOKEN_ANSWER_INSTRUCTION,
    PromptFormat,
)
from voice_livemind.livemind.segmenter import stable_segments
from voice_livemind.livemind.session import LiveMindSession
from voice_livemind.llm.base import EngineError, PromptTooLongError, SamplingSettings

S1 = "The train leaves Paris at noon. "
S2 = "It travels at 300 km per hour. "
S3 = "Lyon is 450 km away from Paris. "
S4 = "The driver takes one break. "
QUESTION = "When does it arrive?"


def config(**overrides) -> SessionConfig:
    # The prompt-structure assertions below are written for ua-spi (user turn = new input).
    defaults = {"min_segment_chars": 0, "prompt_format": PromptFormat.UA_SPI}
    return SessionConfig(**{**defaults, **overrides})


def inference_echo(messages, settings) -> str:
    """Answers fixed, infers 'saw <the new input>' so tests can tell inferences apart."""
    if is_answer_prompt(messages):
        return DEFAULT_ANSWER
    return f"action inference. saw {messages[-1]['content'].strip()}"


def slow_inference(seconds: float):
    """A delay per streamed chunk for inference calls; answers come at once."""
    return lambda messages, settings: 0.0 if is_answer_prompt(messages) else seconds


def of_type(events, event_type):
    return [e for e in events if isinstance(e, event_type)]


def settled(session: LiveMindSession, engine: ScriptedEngine) -> bool:
    """No call in flight and every stable segment of the input inferred on."""
    cfg = session.config
    stable = "".join(stable_segments(session.text, cfg.granularity, cfg.min_segment_chars))
    return not engine.in_flight and session.memory.consumed_text == stable


async def feed_and_settle(session: LiveMindSession, engine: ScriptedEngine, text: str) -> None:
    """Feed `text` and wait until the session has caught up with it."""
    session.feed(text)
    await wait_until(lambda: settled(session, engine))


# -- thinking while input arrives -------------------------------------------------------------


async def test_each_new_sentence_becomes_one_inference_call_one_at_a_time():
    engine = ScriptedEngine(inference_echo, delay=slow_inference(0.002))
    session = LiveMindSession(engine, config())
    events = session.bus.subscribe()
    for text in [S1, S2, S3, "When "]:
        await feed_and_settle(session, engine, text)
    started = of_type(drain(events), InferenceStarted)
    assert [e.new_text for e in started] == [S1, S2, S3]
    assert [c.last_user for c in engine.inference_calls] == [S1, S2, S3]
    assert engine.max_in_flight == 1
    assert session.memory.inferences() == [f"saw {s.strip()}" for s in [S1, S2, S3]]
    # Inference calls use the configured settings (structured outputs included).
    assert all(c.settings == session.config.inference for c in engine.inference_calls)
    result = await session.end()
    assert result.inferences == [f"saw {s.strip()}" for s in [S1, S2, S3]]


async def test_second_inference_prompt_shows_the_first_inference_as_assistant_turn():
    engine = ScriptedEngine(inference_echo)
    session = LiveMindSession(engine, config())
    await feed_and_settle(session, engine, S1 + S2)
    await feed_and_settle(session, engine, "More ")
    assert engine.inference_calls[1].messages == [
        {"role": "system", "content": LIVEMIND_SYSTEM},
        {"role": "user", "content": S1},
        {"role": "assistant", "content": f"action inference. saw {S1.strip()}"},
        {"role": "user", "content": S2},
    ]
    await session.close()


async def test_the_unfinished_last_sentence_is_not_inferred_on():
    engine = ScriptedEngine()
    session = LiveMindSession(engine, config())
    session.feed(S1)
    session.feed("It travels at 300")
    await asyncio.sleep(0.02)
    assert [c.last_user for c in engine.inference_calls] == [S1]
    await session.close()


async def test_segments_arriving_during_a_call_are_folded_into_one_next_call():
    engine = ScriptedEngine()
    session = LiveMindSession(engine, config())
    engine.hold()
    session.feed(S1 + S2)
    await wait_until(lambda: engine.in_flight)
    for text in [S3, S4, QUESTION]:  # S2, S3 and S4 become stable while S1 is in flight
        session.feed(text)
        await asyncio.sleep(0.005)
    assert len(engine.calls) == 1
    engine.release()
    await wait_until(lambda: settled(session, engine))
    assert [c.last_user for c in engine.inference_calls] == [S1, S2 + S3 + S4]
    assert engine.max_in_flight == 1
    assert session.memory.consumed_text == S1 + S2 + S3 + S4
    await session.close()


async def test_min_segment_chars_folds_short_sentences_into_the_next():
    engine = ScriptedEngine()
    session = LiveMindSession(engine, config(min_segment_chars=10))
    await feed_and_settle(session, engine, "Hi. Ok. " + S1 + "Next ")
    assert [c.last_user for c in engine.inference_calls] == ["Hi. Ok. " + S1]
    await session.close()


async def test_clause_granularity_infers_on_clauses():
    engine = ScriptedEngine()
    session = LiveMindSession(engine, config(granularity="clause"))
    for text in ["At 3:45, ", "the 1,000 sheep ran; ", "the dog barked"]:
        await feed_and_settle(session, engine, text)
    assert [c.last_user for c in engine.inference_calls] == ["At 3:45, ", "the 1,000 sheep ran; "]
    await session.close()


# -- end of input ---------------------------------------------------------------------------


async def test_end_with_abort_cancels_the_inference_in_flight_and_answers_from_the_input():
    engine = ScriptedEngine()
    session = LiveMindSession(engine, config(end_policy=EndPolicy.ABORT))
    events = session.bus.subscribe()
    engine.hold(only=lambda messages: not is_answer_prompt(messages))  # never released
    session.feed(S1 + S2)
    await wait_until(lambda: engine.in_flight)
    (in_flight_id,) = engine.in_flight
    result = await asyncio.wait_for(session.end(), timeout=2)
    assert engine.cancelled == [in_flight_id]
    assert in_flight_id not in engine.completed
    published = drain(events)
    (aborted,) = of_type(published, InferenceAborted)
    assert aborted.call_id == in_flight_id
    assert aborted.reason == "input ended"
    assert not of_type(published, InferenceDone)
    assert of_type(published, InputEnded)[0].in_flight
    assert result.in_flight_at_end
    assert result.inferences == []
    (answer,) = engine.answer_calls
    assert answer.messages[-1]["content"] == f"{S1}{S2}\n\n{FINAL_INSTRUCTION}"


async def test_end_with_wait_lets_the_inference_finish_and_uses_it():
    engine = ScriptedEngine(inference_echo)
    session = LiveMindSession(engine, config(end_policy=EndPolicy.WAIT))
    events = session.bus.subscribe()
    engine.hold()
    session.feed(S1 + S2)
    await wait_until(lambda: engine.in_flight)
    (in_flight_id,) = engine.in_flight
    ending = asyncio.create_task(session.end())
    await asyncio.sleep(0.01)
    assert not ending.done()  # end() waits for the inference in flight
    engine.release()
    result = await ending
    assert engine.cancelled == []
    assert in_flight_id in engine.completed
    published = drain(events)
    assert not of_type(published, InferenceAborted)
    assert [e.call_id for e in of_type(published, InferenceDone)] == [in_flight_id]
    assert result.in_flight_at_end
    assert result.inferences == [f"saw {S1.strip()}"]
    (answer,) = engine.answer_calls
    assert answer.messages[1:] == [
        {"role": "user", "content": S1},
        {"role": "assistant", "content": f"action inference. saw {S1.strip()}"},
        {"role": "user", "content": f"{S2}\n\n{FINAL_INSTRUCTION}"},
    ]
    # The done event comes before input is considered answered.
    types = [type(e) for e in published]
    assert types.index(InferenceDone) < types.index(AnswerStarted)


async def test_end_without_a_call_in_flight_reports_so():
    engine = ScriptedEngine()
    session = LiveMindSession(engine, config())
    await feed_and_settle(session, engine, S1 + QUESTION)
    result = await session.end()
    assert not result.in_flight_at_end
    assert engine.cancelled == []
    assert engine.answer_calls[0].messages[-1]["content"] == f"{QUESTION}\n\n{FINAL_INSTRUCTION}"


async def test_answer_instruction_and_answer_settings_are_used_for_the_answer():
    engine = ScriptedEngine()
    answer_settings = SamplingSettings(max_tokens=99)
    session = LiveMindSession(
        engine, config(answer_instruction="Reply in French.", answer=answer_settings)
    )
    session.feed(QUESTION)
    await session.end()
    (answer,) = engine.answer_calls
    assert answer.settings == answer_settings
    assert answer.messages[-1]["content"] == (f"{QUESTION}\n\n{FINAL_INSTRUCTION} Reply in French.")


CHOICE_QUESTION = "When does it arrive? (A) at noon (B) at two (C) at three (D) never"


async def test_livemind_answer_opens_with_the_prefix_and_the_constrained_letter():
    for mode in Mode:
        engine = ScriptedEngine("B)")
        session = LiveMindSession(engine, config(mode=mode, answer_prefix="The answer is ("))
        bus = session.bus.subscribe()
        session.feed(CHOICE_QUESTION)
        result = await session.end()
        deltas = [e.text for e in drain(bus) if isinstance(e, AnswerDelta)]
        if mode is Mode.LIVEMIND:  # the prefill is sent, then counted as the answer's start
            (answer,) = engine.answer_calls
            assert answer.messages[-1] == {"role": "assistant", "content": "The answer is ("}
            # The reply is the letter alone, one of the question's labels.
            assert answer.settings.regex == r"[ABCD]\)" and answer.settings.max_tokens == 3
            assert result.answer == "".join(deltas) == "The answer is (B)"
            assert session.history[-1]["content"] == "The answer is (B)"
        else:  # the baseline never gets the prefill: its reasoning comes first
            (answer,) = engine.answer_calls
            assert answer.messages[-1]["role"] == "user" and answer.settings.regex is None
            assert result.answer == "".join(deltas) == "B)"


async def test_an_open_question_gets_no_prefill_and_no_letter():
    engine = ScriptedEngine("It arrives at two.")
    session = LiveMindSession(engine, config(answer_prefix="The answer is ("))
    session.feed(QUESTION)
    result = await session.end()
    (answer,) = engine.answer_calls
    assert answer.messages[-1]["role"] == "user" and answer.settings.regex is None
    assert result.answer == "It arrives at two."


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize(
    "reply",
    [
        "Two hours at 300 km per hour is 600 km, more than",  # cut by the token limit
        "The train is fast, so it arrives early.",  # never states a letter
        "The answer is (E).",  # a letter the question does not have
    ],
)
async def test_a_reply_without_a_valid_letter_is_continued_to_state_one(mode, reply):
    engine = ScriptedEngine(reasoning_then_letter(reply))
    session = LiveMindSession(engine, config(mode=mode))
    bus = session.bus.subscribe()
    session.feed(CHOICE_QUESTION)
    result = await session.end()
    first, letter = engine.answer_calls
    assert letter.request_id == f"{first.request_id}-letter"
    assert letter.messages[:-1] == first.messages  # the same prompt, the reply continued
    assert letter.messages[-1] == {"role": "assistant", "content": reply + "\nThe answer is ("}
    assert letter.settings.regex == r"[ABCD]\)" and letter.settings.repetition_penalty == 1.0
    assert result.answer == reply + "\nThe answer is (C)"
    events = drain(bus)
    (done,) = [e for e in events if isinstance(e, AnswerDone)]
    assert done.letter_extracted and done.text == result.answer
    # Both requests count: the continuation's tokens, and its time before answer_done.
    assert done.tokens.generated_tokens == len(reply.split()) + 1


async def test_a_reply_that_states_a_valid_letter_is_not_continued():
    engine = ScriptedEngine(reasoning_then_letter("It is fast. The answer is (B)."))
    session = LiveMindSession(engine, config(mode=Mode.BASELINE))
    bus = session.bus.subscribe()
    session.feed(CHOICE_QUESTION)
    result = await session.end()
    assert len(engine.answer_calls) == 1 and result.answer == "It is fast. The answer is (B)."
    (done,) = [e for e in drain(bus) if isinstance(e, AnswerDone)]
    assert not done.letter_extracted


@pytest.mark.parametrize(
    ("mode", "reply", "said"),
    [
        (Mode.LIVEMIND, "A)", "A: a feather."),  # after the prefill "The answer is ("
        (Mode.BASELINE, "A stone weighs more. The answer is (B).", "B: a stone."),
        (Mode.BASELINE, "A stone weighs more.", "C: neither."),  # the continuation's C
    ],
)
async def test_the_spoken_style_names_the_chosen_option_and_nothing_else(mode, reply, said):
    # LiveMind's prefilled reply is the letter itself; the baseline's reasoning comes first.
    engine = ScriptedEngine(reply if mode is Mode.LIVEMIND else reasoning_then_letter(reply))
    spoken = config(mode=mode, answer_style=AnswerStyle.SPOKEN, answer_prefix="The answer is (")
    session = LiveMindSession(engine, spoken)
    bus = session.bus.subscribe()
    session.feed("Which is heavier? Option A: a feather. Option B: a stone. Option C: neither.")
    result = await session.end()
    deltas = [e.text for e in drain(bus) if isinstance(e, AnswerDelta)]
    assert deltas == [said] == [result.answer]


async def test_the_spoken_style_says_the_option_the_model_chose():
    engine = ScriptedEngine("B)")
    spoken = config(answer_style=AnswerStyle.SPOKEN, answer_prefix="The answer is (")
    session = LiveMindSession(engine, spoken)
    bus = session.bus.subscribe()
    session.feed("Which muscle cramps? Options: (A) calm rest (B) frequent muscle contractions")
    result = await session.end()
    deltas = [e.text for e in drain(bus) if isinstance(e, AnswerDelta)]
    assert deltas == ["B: frequent muscle contractions."] == [result.answer]


async def test_the_spoken_style_answers_an_open_question_in_plain_sentences():
    engine = ScriptedEngine("## Why\n- Light **scatters** in the air.\n- Blue scatters most.")
    session = LiveMindSession(engine, config(answer_style=AnswerStyle.SPOKEN))
    session.feed("Why is the sky blue?")
    result = await session.end()
    (answer,) = engine.answer_calls
    assert answer.messages[-1]["content"].endswith(SPOKEN_ANSWER_INSTRUCTION)
    assert result.answer == "Why Light scatters in the air. Blue scatters most."


async def test_feeding_while_the_answer_is_being_made_is_refused():
    engine = ScriptedEngine(delay=0.01)
    session = LiveMindSession(engine, config())
    session.feed(QUESTION)
    ending = asyncio.create_task(session.end())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="input has ended"):
        session.feed("more")
    await ending
    session.feed("Next turn works.")  # and the next turn accepts input again
    await session.close()


async def test_empty_turn_still_gets_an_answer_call():
    engine = ScriptedEngine()
    session = LiveMindSession(engine, config())
    result = await session.end()
    assert result.text == ""
    assert result.answer == DEFAULT_ANSWER
    assert engine.inference_calls == []
    assert engine.answer_calls[0].messages[-1] == {"role": "user", "content": FINAL_INSTRUCTION}


async def test_close_cancels_the_background_inference():
    engine = ScriptedEngine()
    session = LiveMindSession(engine, config())
    engine.hold()
    session.feed(S1 + S2)
    await wait_until(lambda: engine.in_flight)
    await session.close()
    assert len(engine.cancelled) == 1
    assert not engine.in_flight


# -- baseline and the answer stream -----------------------------------------------------------


async def test_baseline_mode_makes_no_inference_calls_and_one_cot_answer_call():
    engine = ScriptedEngine()
    session = LiveMindSession(engine, config(mode=Mode.BASELINE, answer_instruction="Be brief."))
    events = session.bus.subscribe()
    for text in [S1, S2, S3, QUESTION]:
        session.feed(text)
        await asyncio.sleep(0.005)
    assert engine.calls == []
    result = await session.end()
    (call,) = engine.calls
    assert call.messages == [
        {"role": "system", "content": COT_SYSTEM},
        {"role": "user", "content": f"{S1}{S2}{S3}{QUESTION}\n\nBe brief."},
    ]
    published = drain(events)
    assert not of_type(published, SegmentCommitted)
    assert not of_type(published, InferenceStarted)
    assert of_type(published, AnswerStarted)[0].mode == "baseline"
    assert result.answer == DEFAULT_ANSWER
    assert result.inferences == []


async def test_answer_streams_as_deltas_between_first_token_and_done():
    answer_text = "The train arrives at half past one."
    engine = ScriptedEngine(answer_text, delay=0.02)
    session = LiveMindSession(engine, config(mode=Mode.BASELINE))
    events = session.bus.subscribe()
    session.feed(QUESTION)
    result = await session.end()
    published = drain(events)
    names = [e.type for e in published]
    deltas = of_type(published, AnswerDelta)
    assert names[0] == "input_ended"
    assert names[1:3] == ["answer_started", "answer_first_token"]
    assert names[3:-1] == ["answer_delta"] * len(deltas)
    assert names[-1] == "answer_done"
    assert len(deltas) == len(answer_text.split())
    assert "".join(d.text for d in deltas) == answer_text
    (done,) = of_type(published, AnswerDone)
    assert done.text == result.answer == answer_text
    assert done.finish_reason == result.finish_reason == "stop"
    assert done.tokens.generated_tokens == len(deltas)
    assert done.tokens.prompt_tokens == approx_tokens(engine.calls[0].messages)
    assert result.tokens == done.tokens
    (first,) = of_type(published, AnswerFirstToken)
    assert first.call_id == done.call_id == of_type(published, AnswerStarted)[0].call_id
    assert result.answer_first_token_t == first.t
    assert result.answer_done_t == done.t
    # Timing: 0.02 s before each of the 7 chunks.
    assert result.latency_s >= result.ttft_s >= 0
    assert result.ttft_s >= 0.015
    assert result.latency_s >= 0.1
    assert result.latency_s - result.ttft_s >= 0.1


async def test_an_empty_answer_has_no_first_token():
    engine = ScriptedEngine("")
    session = LiveMindSession(engine, config(mode=Mode.BASELINE))
    session.feed(QUESTION)
    result = await session.end()
    assert result.answer == ""
    assert result.answer_first_token_t is None
    assert result.ttft_s is None
    assert result.latency_s >= 0


# -- conversations ----------------------------------------------------------------------------


async def test_second_turn_sees_first_turn_in_history_with_fresh_memory():
    engine = ScriptedEngine(inference_echo)
    session = LiveMindSession(engine, config())
    events = session.bus.subscribe()
    await feed_and_settle(session, engine, S1 + QUESTION)
    first = await session.end()
    assert first.turn == 0
    assert session.memory.steps == ()
    assert session.text == ""
    history = [
        {"role": "user", "content": S1 + QUESTION},
        {"role": "assistant", "content": DEFAULT_ANSWER},
    ]
    assert session.history == history

    calls_before = len(engine.calls)
    await feed_and_settle(session, engine, S2 + "And then?")
    second = await session.end()
    assert second.turn == 1
    assert second.inferences == [f"saw {S2.strip()}"]  # none of turn 0's inferences
    inference, answer = engine.calls[calls_before:]
    assert inference.messages == [
        {"role": "system", "content": LIVEMIND_SYSTEM},
        *history,
        {"role": "user", "content": S2},
    ]
    assert answer.messages[1:3] == history
    assert S1 not in json.dumps(answer.messages[3:])  # turn 0's input is only in history
    assert len(session.history) == 4
    turns = {e.turn for e in drain(events)}
    assert turns == {0, 1}
    assert len({c.request_id for c in engine.calls}) == len(engine.calls)


async def test_baseline_second_turn_includes_history():
    engine = ScriptedEngine()
    session = LiveMindSession(engine, config(mode=Mode.BASELINE))
    session.feed("First?")
    await session.end()
    session.feed("Second?")
    await session.end()
    assert engine.calls[1].messages == [
        {"role": "system", "content": COT_SYSTEM},
        {"role": "user", "content": "First?"},
        {"role": "assistant", "content": DEFAULT_ANSWER},
        {"role": "user", "content": "Second?"},
    ]


@pytest.mark.parametrize("speculative", [False, True])
async def test_a_barge_in_stops_the_answer_and_the_history_keeps_what_was_generated(speculative):
    story = " ".join(f"Part {i} of a long story." for i in range(100))
    engine = ScriptedEngine(
        lambda messages, settings: story if is_answer_prompt(messages) else "action wait.",
        delay=0.005,
    )
    session = LiveMindSession(engine, config())
    events, watched = session.bus.subscribe(), session.bus.subscribe()
    session.feed("Tell me a long story.")
    if speculative:
        assert session.speculate()
    assert not session.interrupt_answer()  # nothing is being answered yet
    answering = asyncio.create_task(session.end())
    while not isinstance(await asyncio.wait_for(watched.get(), timeout=2), AnswerDelta):
        pass  # the answer is being spoken when the user talks over it
    assert session.interrupt_answer()
    result = await asyncio.wait_for(answering, timeout=2)
    assert result.finish_reason == "interrupted"
    assert result.answer and story.startswith(result.answer) and result.answer != story
    (done,) = of_type(drain(events), AnswerDone)
    assert done.finish_reason == "interrupted" and done.text == result.answer
    (answer_call,) = engine.answer_calls
    assert answer_call.request_id not in engine.completed  # the request was stopped too
    await wait_until(lambda: answer_call.request_id in engine.aborted)
    assert session.history[-1] == {"role": "assistant", "content": result.answer}
    assert not session.interrupt_answer()  # the turn is over
    session.feed("Shorter, please.")
    assert (await session.end()).finish_reason == "stop"


# -- revisions ----------------------------------------------------------------------------


async def test_revising_an_earlier_sentence_drops_only_later_inferences_and_reinfers():
    engine = ScriptedEngine(inference_echo)
    session = LiveMindSession(engine, config())
    events = session.bus.subscribe()
    for text in [S1, S2, S3, "When "]:
        await feed_and_settle(session, engine, text)
    assert len(session.memory.inferences()) == 3
    drain(events)

    s2_fixed = S2.replace("300", "320")
    session.revise(S1 + s2_fixed + S3 + "When ")
    published = drain(events)
    (revised,) = of_type(published, InputRevised)
    assert revised.common_prefix_chars == len(S1) + S2.index("300") + 1
    assert revised.dropped_inferences == 2
    assert session.memory.inferences() == [f"saw {S1.strip()}"]

    await wait_until(
        lambda: not engine.in_flight and len(engine.completed) >= 4 and settled(session, engine)
    )
    await asyncio.sleep(0.01)
    redo = engine.inference_calls[3]
    assert redo.messages[1:] == [
        {"role": "user", "content": S1},
        {"role": "assistant", "content": f"action inference. saw {S1.strip()}"},
        {"role": "user", "content": s2_fixed + S3},
    ]
    committed = of_type(published, SegmentCommitted)  # republished from the change on
    assert [(e.index, e.text) for e in committed] == [(1, s2_fixed), (2, S3)]
    assert type(published[0]) is InputRevised
    result = await session.end()
    assert result.inferences == [f"saw {S1.strip()}", f"saw {(s2_fixed + S3).strip()}"]
    assert result.text == S1 + s2_fixed + S3 + "When "


async def test_revise_with_the_same_text_does_nothing():
    engine = ScriptedEngine()
    session = LiveMindSession(engine, config())
    events = session.bus.subscribe()
    await feed_and_settle(session, engine, S1 + S2)
    drain(events)
    session.revise(S1 + S2)
    await asyncio.sleep(0.01)
    assert drain(events) == []
    assert len(engine.calls) == 1
    await session.close()


async def test_a_revision_during_a_call_discards_that_calls_result():
    engine = ScriptedEngine(inference_echo)
    session = LiveMindSession(engine, config())
    events = session.bus.subscribe()
    engine.hold()
    session.feed(S1 + S2)
    await wait_until(lambda: engine.in_flight)
    (stale_id,) = engine.in_flight
    s1_fixed = S1.replace("noon", "nine")
    session.revise(s1_fixed + S2)
    engine.release()
    await wait_until(lambda: engine.completed and settled(session, engine))
    assert stale_id in engine.cancelled  # aborted at once, not left to finish
    published = drain(events)
    (aborted,) = of_type(published, InferenceAborted)
    assert aborted.call_id == stale_id
    assert aborted.reason == "input revised"
    assert [c.last_user for c in engine.inference_calls] == [S1, s1_fixed]
    assert session.memory.inferences() == [f"saw {s1_fixed.strip()}"]
    await session.close()


async def test_revision_back_and_forth_during_a_call_keeps_memory_a_prefix_of_the_input():
    engine = ScriptedEngine(inference_echo)
    session = LiveMindSession(engine, config())
    await feed_and_settle(session, engine, S1 + S2)  # step 0: S1
    engine.hold()
    session.feed(S3)  # S2 goes in flight on top of step 0
    await wait_until(lambda: engine.in_flight)
    session.revise(S1.replace("noon", "nine") + S2 + S3)  # drops step 0
    session.revise(S1 + S2 + S3)  # and back: nothing left to drop
    engine.release()
    await wait_until(lambda: len(engine.completed) >= 2)
    await asyncio.sleep(0.01)
    try:
        assert session.text.startswith(session.memory.consumed_text)
    finally:
        await session.close()


async def test_revise_while_the_answer_is_made_is_refused_without_side_effects():
    engine = ScriptedEngine(inference_echo, delay=lambda m, s: 0.01)
    session = LiveMindSession(engine, config())
    events = session.bus.subscribe()
    for text in [S1, S2, QUESTION]:
        await feed_and_settle(session, engine, text)
    ending = asyncio.create_task(session.end())
    await wait_until(lambda: engine.answer_calls)
    drain(events)
    with pytest.raises(RuntimeError, match="input has ended"):
        session.revise("Something else entirely.")
    result = await ending
    assert not of_type(drain(events), InputRevised)
    assert len(result.inferences) == 2


# -- failures -----------------------------------------------------------------------------


def failing_inference(messages, settings) -> str:
    if is_answer_prompt(messages):
        return DEFAULT_ANSWER
    raise EngineError("model crashed")


async def test_failed_inference_is_reported_and_the_turn_is_still_answered():
    engine = ScriptedEngine(failing_inference)
    session = LiveMindSession(engine, config())
    events = session.bus.subscribe()
    session.feed(S1 + S2)
    await wait_until(lambda: engine.failed)
    session.feed(S3 + QUESTION)  # no further inference calls this turn
    await asyncio.sleep(0.01)
    assert len(engine.inference_calls) == 1
    assert len(engine.failed) == 1
    result = await session.end()
    (error,) = of_type(drain(events), ErrorEvent)
    assert error.message == "inference failed: model crashed"
    assert result.answer == DEFAULT_ANSWER
    (answer,) = engine.answer_calls
    assert answer.messages[-1]["content"] == f"{S1}{S2}{S3}{QUESTION}\n\n{FINAL_INSTRUCTION}"

    # The next turn tries to think again.
    session.feed(S1 + S2)
    await wait_until(lambda: len(engine.failed) == 2)
    assert len(engine.inference_calls) == 2
    await session.close()


async def test_failed_answer_raises_and_the_session_takes_the_next_turn():
    fail = {"answer": True}

    def reply(messages, settings):
        if not is_answer_prompt(messages):
            return "action wait."
        if fail["answer"]:
            raise EngineError("out of memory")
        return DEFAULT_ANSWER

    engine = ScriptedEngine(reply)
    session = LiveMindSession(engine, config())
    events = session.bus.subscribe()
    await feed_and_settle(session, engine, S1 + QUESTION)
    with pytest.raises(EngineError, match="out of memory"):
        await session.end()
    published = drain(events)
    assert of_type(published, ErrorEvent)[-1].message == "answer failed: out of memory"
    assert not of_type(published, AnswerDone)
    assert session.turn == 1
    assert session.history == []
    assert session.text == ""
    assert session.memory.steps == ()

    fail["answer"] = False
    await feed_and_settle(session, engine, S2 + "Again?")
    result = await session.end()
    assert result.turn == 1
    assert result.answer == DEFAULT_ANSWER
    assert session.history[0] == {"role": "user", "content": S2 + "Again?"}


# -- context budget ---------------------------------------------------------------------------

LONG_TURN = [
    {"role": "user", "content": "u" * 200},
    {"role": "assistant", "content": "a" * 200},
]
NEWER_TURN = [
    {"role": "user", "content": "v" * 200},
    {"role": "assistant", "content": "b" * 200},
]


def budget_config(**overrides) -> SessionConfig:
    return config(
        inference=SamplingSettings(max_tokens=20),
        answer=SamplingSettings(max_tokens=40),
        **overrides,
    )


def fits(engine: ScriptedEngine, call) -> bool:
    return approx_tokens(call.messages) + call.settings.max_tokens <= engine.context_tokens


async def test_oldest_history_turns_are_dropped_to_fit_the_context():
    # system ≈ 124 tokens, each history turn ≈ 108, input ≈ 12: only one turn fits in 300.
    engine = ScriptedEngine(context_tokens=300)
    session = LiveMindSession(engine, budget_config())
    session.history = [*LONG_TURN, *NEWER_TURN]
    await feed_and_settle(session, engine, S1 + "And ")
    (call,) = engine.inference_calls
    assert call.messages[1:] == [*NEWER_TURN, {"role": "user", "content": S1}]
    assert fits(engine, call)
    assert engine.count_calls >= 1
    assert session.history == NEWER_TURN
    await session.close()


async def test_oldest_inferences_are_forgotten_once_history_is_gone():
    def long_inference(messages, settings) -> str:
        if is_answer_prompt(messages):
            return DEFAULT_ANSWER
        return f"action inference. {messages[-1]['content'].split()[0]} " + "z" * 150

    engine = ScriptedEngine(long_inference, context_tokens=300)
    session = LiveMindSession(engine, budget_config())
    events = session.bus.subscribe()
    session.history = list(LONG_TURN)
    for text in [S1, S2, S3, S4, QUESTION]:
        await feed_and_settle(session, engine, text)
    result = await session.end()
    assert session.history[:2] != LONG_TURN  # the old turn went first
    assert all(fits(engine, call) for call in engine.calls)
    # Some inferences had to go, the oldest ones: what is left is the newest.
    made = [e.text for e in of_type(drain(events), InferenceDone)]
    assert [m.split()[0] for m in made] == ["The", "It", "Lyon", "The"]
    assert 0 < len(result.inferences) < len(made)
    assert result.inferences == made[-len(result.inferences) :]
    # The input itself is never cut: the answer prompt still has all of it.
    (answer,) = engine.answer_calls
    user_input = "".join(m["content"] for m in answer.messages[1:] if m["role"] == "user")
    assert user_input == f"{S1}{S2}{S3}{S4}{QUESTION}\n\n{FINAL_INSTRUCTION}"


async def test_prompt_too_long_only_when_the_input_alone_does_not_fit():
    engine = ScriptedEngine(context_tokens=300)
    session = LiveMindSession(engine, budget_config(mode=Mode.BASELINE))
    events = session.bus.subscribe()
    session.feed("word " * 200)  # 1000 characters ≈ 254 tokens + system + answer > 300
    with pytest.raises(PromptTooLongError) as raised:
        await session.end()
    message = str(raised.value)
    assert "1000 characters" in message
    assert "300-token context of scripted" in message
    assert "\n" not in message
    assert engine.calls == []
    assert of_type(drain(events), ErrorEvent)[-1].message.startswith("answer failed: input of")
    # A short input in the next turn fits.
    session.feed(QUESTION)
    result = await session.end()
    assert result.answer == DEFAULT_ANSWER


async def test_inference_that_cannot_fit_reports_an_error_and_the_answer_raises():
    engine = ScriptedEngine(context_tokens=200)
    session = LiveMindSession(engine, budget_config())
    events = session.bus.subscribe()
    session.feed("word " * 100 + ". " + S1)
    published: list = []
    await wait_until(lambda: published.extend(drain(events)) or of_type(published, ErrorEvent))
    assert engine.calls == []
    (error,) = of_type(published, ErrorEvent)
    assert error.message.startswith("inference failed: input of")
    with pytest.raises(PromptTooLongError):
        await session.end()


async def test_a_turn_too_long_to_answer_keeps_the_conversation_history():
    engine = ScriptedEngine(context_tokens=300)
    session = LiveMindSession(engine, budget_config(mode=Mode.BASELINE))
    session.history = list(NEWER_TURN)
    session.feed("word " * 200)
    with pytest.raises(PromptTooLongError):
        await session.end()
    assert session.history == NEWER_TURN


def utf8_tokens(messages) -> int:
    """A byte-level BPE worst case: one token per UTF-8 byte (emoji are 4 bytes, 1 char)."""
    return sum(len(m["content"].encode()) + 4 for m in messages)


async def test_non_ascii_input_is_counted_before_it_is_sent():
    engine = ScriptedEngine(context_tokens=300, count=utf8_tokens)
    session = LiveMindSession(engine, budget_config(mode=Mode.BASELINE))
    session.feed("😀" * 100)  # 100 characters, 400 byte tokens
    with contextlib.suppress(PromptTooLongError):
        await session.end()
    assert all(
        utf8_tokens(c.messages) + c.settings.max_tokens <= engine.context_tokens
        for c in engine.calls
    )


# -- collaborative mode -----------------------------------------------------------------------


async def test_collaborative_mode_sends_only_the_answer_to_the_answer_engine():
    thinker = ScriptedEngine(inference_echo, name="small")
    writer = ScriptedEngine("Written by the big model.", name="big")
    session = LiveMindSession(thinker, config(), answer_engine=writer)
    for text in [S1, S2, QUESTION]:
        await feed_and_settle(session, thinker, text)
    result = await session.end()
    assert [c.is_answer for c in thinker.calls] == [False, False]
    (answer,) = writer.calls
    assert answer.is_answer
    assert answer.messages[1:] == [
        {"role": "user", "content": S1},
        {"role": "assistant", "content": f"action inference. saw {S1.strip()}"},
        {"role": "user", "content": S2},
        {"role": "assistant", "content": f"action inference. saw {S2.strip()}"},
        {"role": "user", "content": f"{QUESTION}\n\n{FINAL_INSTRUCTION}"},
    ]
    assert result.answer == "Written by the big model."


async def test_collaborative_answer_prompt_is_fitted_to_the_answer_engine_context():
    thinker = ScriptedEngine(context_tokens=100_000)
    writer = ScriptedEngine(context_tokens=350)  # fits one 200+200-character turn, not two
    session = LiveMindSession(thinker, budget_config(), answer_engine=writer)
    session.history = [*LONG_TURN, *NEWER_TURN]
    session.feed(QUESTION)
    await session.end()
    (answer,) = writer.calls
    assert fits(writer, answer)
    assert answer.messages[1:3] == NEWER_TURN


# -- the event log ----------------------------------------------------------------------------


async def test_events_tell_the_story_of_a_turn_in_order(tmp_path):
    bus = EventBus()
    engine = ScriptedEngine(inference_echo, delay=0.002)
    session = LiveMindSession(engine, config(), bus=bus)
    collected = bus.subscribe()
    log = JsonlLog(tmp_path / "events.jsonl")
    writer = asyncio.create_task(log.consume(bus.subscribe()))
    await feed_and_settle(session, engine, S1)
    await feed_and_settle(session, engine, S2)
    await feed_and_settle(session, engine, QUESTION)
    await session.end()
    bus.close()
    await writer
    log.close()

    events = drain(collected)
    types = [e.type for e in events]
    n_deltas = types.count("answer_delta")
    assert types == [
        "segment",
        "inference_started",
        "inference_done",
        "segment",
        "inference_started",
        "inference_done",
        "input_ended",
        "answer_started",
        "answer_first_token",
        *["answer_delta"] * n_deltas,
        "answer_done",
    ]
    assert n_deltas == len(DEFAULT_ANSWER.split())
    times = [e.t for e in events]
    assert times == sorted(times)
    assert all(t >= 0 for t in times)
    segments = of_type(events, SegmentCommitted)
    assert [(s.index, s.text) for s in segments] == [(0, S1), (1, S2)]
    started, done = of_type(events, InferenceStarted), of_type(events, InferenceDone)
    assert [s.call_id for s in started] == [d.call_id for d in done]
    assert [d.action for d in done] == ["inference", "inference"]
    assert all(d.valid for d in done)
    reply_pieces = len(f"action inference. saw {S1.strip()}".split())
    assert done[0].tokens.generated_tokens == reply_pieces

    lines = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["type"] for r in records] == types
    assert all(isinstance(r["t"], float) and r["turn"] == 0 for r in records)
    assert records[2]["tokens"]["generated_tokens"] == reply_pieces
    assert records[1]["new_text"] == S1


async def test_a_revision_aborts_only_the_inference_that_read_the_changed_text():
    engine = ScriptedEngine(inference_echo)
    session = LiveMindSession(engine, config())
    events = session.bus.subscribe()
    engine.hold(only=lambda messages: not is_answer_prompt(messages))
    session.feed(S1 + S2 + "When ")
    await wait_until(lambda: engine.in_flight)
    (reads_s1_s2,) = engine.in_flight
    session.revise(S1 + S2 + "Then ")  # after the text in flight: it goes on
    await asyncio.sleep(0.02)
    assert engine.in_flight == {reads_s1_s2} and not of_type(drain(events), InferenceAborted)
    session.revise(S1 + S2.replace("300", "200") + "Then ")  # inside it: aborted at once
    await wait_until(lambda: reads_s1_s2 in engine.cancelled)
    (aborted,) = of_type(drain(events), InferenceAborted)
    assert aborted.call_id == reads_s1_s2 and aborted.reason == "input revised"
    await wait_until(lambda: len(engine.inference_calls) == 2)
    engine.release()
    await wait_until(lambda: settled(session, engine))
    assert engine.inference_calls[1].last_user == S1 + S2.replace("300", "200")
    await session.close()


@pytest.mark.parametrize("mode", list(Mode))
async def test_livemind_s_free_reply_to_a_choice_is_kept_short_the_baseline_s_is_not(mode):
    """LiveMind's last step only names the answer; a model that rambles there is cut at
    CHOICE_REPLY_MAX_TOKENS and asked for its letter. The chain of thought keeps its budget."""
    from voice_livemind.livemind.session import CHOICE_REPLY_MAX_TOKENS

    engine = ScriptedEngine(reasoning_then_letter("It is fast. The answer is (B)."))
    session = LiveMindSession(engine, config(mode=mode, answer_prefix=""))
    session.feed(CHOICE_QUESTION)
    await session.end()
    budget = engine.answer_calls[0].settings.max_tokens
    assert budget == (CHOICE_REPLY_MAX_TOKENS if mode is Mode.LIVEMIND else 256)


async def test_a_spoken_choice_stops_generating_once_its_letter_is_stated():
    """Only "B: <the option>" is said, so the rest of a reply that has answered is not
    generated: first audio does not wait for it."""
    reply = "The answer is (B) because a stone is heavier than a feather, as everyone knows."
    engine = ScriptedEngine(reasoning_then_letter(reply))
    session = LiveMindSession(engine, config(answer_style=AnswerStyle.SPOKEN))
    bus = session.bus.subscribe()
    session.feed(CHOICE_QUESTION)
    result = await session.end()
    (call,) = engine.answer_calls
    assert engine.aborted == [call.request_id]
    assert result.answer.startswith("B: ")
    (done,) = [e for e in drain(bus) if isinstance(e, AnswerDone)]
    assert done.finish_reason == "stop" and not done.letter_extracted
