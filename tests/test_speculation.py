"""A final answer prepared during a pause: kept when the input ends there, dropped without a
trace when the user goes on. Session logic with the scripted engine; the recogniser's pause
signals and the pipeline with real speech and Whisper."""

from __future__ import annotations

import asyncio

import pytest
from scripted_engine import ScriptedEngine, drain, is_answer_prompt, wait_until

from voice_livemind.asr.recognizer import create_recognizer
from voice_livemind.audio import ArraySource
from voice_livemind.audio.speech_samples import (
    concat,
    silence,
    synthesize,
    trim_silence,
    with_silence,
)
from voice_livemind.events import (
    AnswerDelta,
    AnswerStarted,
    EventBus,
    InferenceAborted,
    SpeculationDiscarded,
    SpeculationStarted,
)
from voice_livemind.livemind.config import EndPolicy, Mode, SessionConfig, Speculate
from voice_livemind.livemind.session import LiveMindSession
from voice_livemind.voice.pipeline import VoicePipeline

S1 = "The sun is a star. "
S2 = "How hot is it?"


def of_type(events, kind):
    return [e for e in events if isinstance(e, kind)]


def answer_with_input(messages, settings):
    """Answers name the input they saw, so a reused answer can be told from a fresh one."""
    if not is_answer_prompt(messages):
        return "action inference. noted"
    seen = "long" if "longer" in messages[-1]["content"] else "short"
    return f"The answer to the {seen} question is 42. More follows."


async def test_a_kept_speculation_is_the_answer_and_no_second_call_is_made():
    engine = ScriptedEngine(answer_with_input, delay=0.01)
    session = LiveMindSession(engine, SessionConfig())
    events = session.bus.subscribe()
    session.feed(S1 + S2)
    assert session.speculate()
    assert not session.speculate()  # the same input: the one in flight will do
    await wait_until(lambda: any(c.is_answer for c in engine.calls))
    result = await session.end()
    assert len(engine.answer_calls) == 1
    assert result.answer == "The answer to the short question is 42. More follows."
    published = drain(events)
    (started,) = of_type(published, AnswerStarted)
    (speculation,) = of_type(published, SpeculationStarted)
    assert started.speculative and started.call_id == speculation.call_id
    assert "".join(e.text for e in of_type(published, AnswerDelta)) == result.answer
    assert session.history[-1]["content"] == result.answer


async def test_the_speculative_text_is_seen_as_it_is_generated():
    engine = ScriptedEngine(answer_with_input, delay=0.01)
    session = LiveMindSession(engine, SessionConfig())
    seen: list[str] = []
    session.feed(S1 + S2)
    assert session.speculate(lambda: seen.append)
    result = await session.end()
    assert len(seen) > 1 and "".join(seen) == result.answer  # as `end()` has it


async def test_a_prefilled_speculative_answer_is_seen_with_its_letter():
    engine = ScriptedEngine(lambda messages, settings: "B)" if settings.regex else "noted")
    session = LiveMindSession(engine, SessionConfig(answer_prefix="The answer is ("))
    seen: list[str] = []
    session.feed(S1 + S2 + " (A) hot (B) cold")
    assert session.speculate(lambda: seen.append)
    result = await session.end()
    assert seen == ["The answer is (B)"] and result.answer == "The answer is (B)"


async def test_speech_resuming_drops_the_speculation_without_a_trace():
    engine = ScriptedEngine(answer_with_input, delay=0.05)
    session = LiveMindSession(engine, SessionConfig())
    events = session.bus.subscribe()
    session.feed(S1 + S2)
    session.speculate()
    await wait_until(lambda: any(c.is_answer for c in engine.calls))
    (speculative,) = engine.answer_calls
    session.discard_speculation("speech resumed")
    # Cancelled, and aborted explicitly too (a cancel racing vLLM's add_request aborts nothing).
    await wait_until(lambda: speculative.request_id in engine.cancelled)
    await wait_until(lambda: speculative.request_id in engine.aborted)
    session.feed(" It is a longer question now.")
    result = await session.end()
    assert result.answer == "The answer to the long question is 42. More follows."
    published = drain(events)
    (dropped,) = of_type(published, SpeculationDiscarded)
    assert dropped.reason == "speech resumed" and dropped.call_id == speculative.request_id
    (started,) = of_type(published, AnswerStarted)
    assert not started.speculative and started.call_id != speculative.request_id
    # Nothing of the dropped answer was published or remembered.
    assert "short" not in "".join(e.text for e in of_type(published, AnswerDelta))
    assert [m["content"] for m in session.history] == [S1 + S2 + " It is a longer question now.",
                                                       result.answer]  # fmt: skip


async def test_new_input_drops_the_speculation_and_a_new_pause_starts_another():
    engine = ScriptedEngine(answer_with_input)
    engine.hold(only=is_answer_prompt)
    session = LiveMindSession(engine, SessionConfig())
    events = session.bus.subscribe()
    session.feed(S1)
    session.speculate()
    await wait_until(lambda: engine.in_flight)
    session.feed(S2 + " It is a longer question now.")  # the user went on
    assert [e.reason for e in of_type(drain(events), SpeculationDiscarded)] == ["input changed"]
    assert session.speculate()
    engine.release()
    result = await asyncio.wait_for(session.end(), timeout=2)
    assert "long question" in result.answer
    assert len(engine.cancelled) == 1 and len(engine.answer_calls) == 2


async def test_speculation_follows_the_setting_and_never_comes_after_the_end():
    engine = ScriptedEngine()
    for config in (SessionConfig(speculate=Speculate.OFF), SessionConfig(mode=Mode.BASELINE)):
        session = LiveMindSession(engine, config)
        session.feed(S1 + S2)
        assert not session.speculate()
        await session.end()
        assert not session.speculate()
    assert len(engine.answer_calls) == 2
    baseline = LiveMindSession(engine, SessionConfig(mode=Mode.BASELINE, speculate=Speculate.ALL))
    assert not baseline.speculate()  # no input yet
    baseline.feed(S2)
    assert baseline.speculate()
    result = await baseline.end()
    assert result.answer == "The answer is 42." and len(engine.answer_calls) == 3
    assert not baseline.speculate()  # ended


async def test_with_the_wait_policy_the_speculation_waits_for_the_inference_in_flight():
    engine = ScriptedEngine(answer_with_input)
    engine.hold(only=lambda messages: not is_answer_prompt(messages))
    session = LiveMindSession(engine, SessionConfig(end_policy=EndPolicy.WAIT))
    session.feed(S1 + S2)
    await wait_until(lambda: engine.in_flight)
    session.speculate()
    await asyncio.sleep(0.05)
    assert not engine.answer_calls  # still waiting for the inference
    engine.release()
    result = await asyncio.wait_for(session.end(), timeout=2)
    assert result.inferences == ["noted"]
    assert "Inference: action inference. noted" in engine.answer_calls[0].messages[-1]["content"]


def is_inference(messages) -> bool:
    return not is_answer_prompt(messages)


def answer_naming_inferences(messages, settings):
    """Answers say how many inferences their prompt shows: a re-prepared one can be told."""
    if not is_answer_prompt(messages):
        return "action inference. noted"
    seen = sum(m["content"].count("noted") for m in messages)
    return f"The answer saw {seen} inferences. More follows."


async def test_an_inference_in_flight_survives_the_pause_answer_which_is_prepared_again():
    engine = ScriptedEngine(answer_naming_inferences, delay=0.005)
    engine.hold(only=is_inference)
    session = LiveMindSession(engine, SessionConfig())
    events = session.bus.subscribe()
    session.feed(S1 + S2)
    await wait_until(lambda: engine.in_flight)
    (inference,) = engine.in_flight
    assert session.speculate()
    await wait_until(lambda: engine.answer_calls and engine.answer_calls[0].request_id
                     in engine.completed)  # fmt: skip
    assert engine.in_flight == {inference}  # batched beside the answer, not aborted
    published = drain(events)
    assert not of_type(published, InferenceAborted)
    engine.release()  # the inference lands: the answer is prepared again, with it
    await wait_until(lambda: len(engine.answer_calls) == 2)
    await wait_until(lambda: engine.answer_calls[1].request_id in engine.completed)
    result = await session.end()
    assert result.answer == "The answer saw 1 inferences. More follows."
    published += drain(events)
    first, second = of_type(published, SpeculationStarted)
    (dropped,) = of_type(published, SpeculationDiscarded)
    assert dropped.call_id == first.call_id and dropped.reason == "prepared again"
    (started,) = of_type(published, AnswerStarted)
    assert started.speculative and started.call_id == second.call_id
    assert inference in engine.completed and not engine.aborted


async def test_at_the_end_the_earlier_answer_is_kept_while_the_new_one_is_in_its_prefill():
    engine = ScriptedEngine(answer_naming_inferences, delay=0.005)
    engine.hold(only=is_inference)
    session = LiveMindSession(engine, SessionConfig())
    events = session.bus.subscribe()
    session.feed(S1 + S2)
    await wait_until(lambda: engine.in_flight)
    session.speculate()
    await wait_until(lambda: engine.answer_calls and engine.answer_calls[0].request_id
                     in engine.completed)  # fmt: skip
    engine.release()
    engine.hold(only=is_answer_prompt)  # the answer prepared again stays in its prefill
    await wait_until(lambda: len(engine.answer_calls) == 2)
    result = await asyncio.wait_for(session.end(), timeout=2)
    assert result.answer == "The answer saw 0 inferences. More follows."
    published = drain(events)
    first, second = of_type(published, SpeculationStarted)
    (started,) = of_type(published, AnswerStarted)
    assert started.speculative and started.call_id == first.call_id
    await wait_until(lambda: second.call_id in engine.cancelled)
    engine.release()


async def test_no_new_inference_starts_while_the_pause_answer_is_in_its_prefill():
    engine = ScriptedEngine(answer_naming_inferences)
    engine.hold(only=is_answer_prompt)
    session = LiveMindSession(engine, SessionConfig())
    session.feed("A farmer plants seeds in the spring and")  # no sentence has ended
    session.speculate()
    session.mark_pause()  # the phrase before the pause is worth an inference, but later
    await wait_until(lambda: engine.answer_calls)
    await asyncio.sleep(0.05)
    assert not engine.inference_calls
    engine.release()  # the answer streams: thinking goes on
    await wait_until(lambda: engine.inference_calls)
    assert engine.inference_calls[0].last_user.endswith("in the spring and")
    await session.until_idle()
    await wait_until(lambda: len(engine.answer_calls) == 2)  # prepared again with it
    result = await asyncio.wait_for(session.end(), timeout=2)
    assert result.inferences == ["noted"]
    assert result.answer == "The answer saw 1 inferences. More follows."


async def test_a_pause_makes_a_phrase_of_at_least_min_segment_chars():
    engine = ScriptedEngine()
    session = LiveMindSession(engine, SessionConfig(min_segment_chars=10, speculate="off"))
    session.feed("Options")
    session.mark_pause()  # 7 characters: too short to think about alone
    await asyncio.sleep(0.02)
    assert not engine.calls
    session.feed(" a low level of salt")
    session.mark_pause()
    await wait_until(lambda: engine.completed)
    (call,) = engine.inference_calls
    assert call.last_user.endswith("Options a low level of salt")
    await session.close()


async def test_an_inference_cancelled_at_the_end_is_also_aborted_in_the_engine():
    engine = ScriptedEngine()
    engine.hold(only=lambda messages: not is_answer_prompt(messages))  # never released
    session = LiveMindSession(engine, SessionConfig())
    session.feed(S1 + S2)
    await wait_until(lambda: engine.in_flight)
    (in_flight,) = engine.in_flight
    await session.end()
    await wait_until(lambda: in_flight in engine.aborted)


# --- with real speech: the recogniser's pause signals drive it ---------------------------------


async def run_spoken(audio, engine):
    bus = EventBus()
    events = bus.subscribe()
    session = LiveMindSession(engine, SessionConfig(), bus=bus)
    turns = await VoicePipeline(create_recognizer(), session).run(
        aiter(ArraySource(audio, realtime=False, pad_s=2.0))
    )
    await session.close()
    return turns, drain(events)


async def test_a_pause_inside_a_question_is_no_end_and_the_final_pause_is():
    first = trim_silence(synthesize("A farmer plants seeds in the spring."))
    second = trim_silence(synthesize("When does the farmer harvest the crop?"))
    # 0.4 s: long enough to speculate (0.25 s), too short to end the utterance (0.6 s)
    audio = with_silence(concat(first, silence(0.4), second), before=0.5)
    engine = ScriptedEngine(delay=0.01)
    turns, events = await run_spoken(audio, engine)
    assert len(turns) == 1
    kinds = [e.type for e in events]
    assert kinds.count("speech_paused") >= 2 and "speech_resumed" in kinds
    assert kinds.index("speech_resumed") < kinds.index("utterance_ended")
    dropped = of_type(events, SpeculationDiscarded)
    assert dropped and dropped[0].reason in ("speech resumed", "input changed")
    (started,) = of_type(events, AnswerStarted)
    assert started.speculative  # the answer prepared in the final pause was kept
    kept = [e for e in of_type(events, SpeculationStarted) if e.call_id == started.call_id]
    assert kept and "harvest" in kept[0].text
    assert turns[0].answer_text == "The answer is 42."


def test_the_speculate_setting_takes_its_names_and_nothing_else():
    assert SessionConfig(speculate="all", mode=Mode.BASELINE).speculates
    assert SessionConfig(speculate=Speculate("off")).speculate is Speculate.OFF
    with pytest.raises(TypeError):
        SessionConfig(speculate=True)  # once silently meant "off" in a benchmark script
    with pytest.raises(ValueError):
        SessionConfig(speculate="sometimes")


# --- with vLLM: the two requests really share the engine ----------------------------------------


@pytest.mark.engine
async def test_with_vllm_an_inference_in_flight_survives_the_pause_answer(model_dir):
    from voice_livemind.events import InferenceDone, InferenceStarted
    from voice_livemind.llm.base import SamplingSettings
    from voice_livemind.llm.vllm_engine import VllmEngine

    engine = await VllmEngine.start(model_dir)
    try:
        config = SessionConfig(answer=SamplingSettings(max_tokens=24, repetition_penalty=1.1))
        session = LiveMindSession(engine, config)
        events = session.bus.subscribe()
        seen: list = []
        session.feed("A farmer has 17 sheep and buys 5 more. How many sheep does he have? He")
        while not of_type(seen, InferenceStarted):
            seen.append(await asyncio.wait_for(events.get(), timeout=120))
        assert session.speculate()  # the inference was sent: both run at once
        await asyncio.wait_for(session.until_idle(), timeout=120)
        seen += drain(events)
        assert not of_type(seen, InferenceAborted)
        (done,) = of_type(seen, InferenceDone)
        speculations = of_type(seen, SpeculationStarted)
        if done.action == "inference":  # an answer that uses it was started after it landed
            assert len(speculations) == 2 and speculations[1].t >= done.t
        result = await asyncio.wait_for(session.end(), timeout=120)
        seen += drain(events)
        (started,) = of_type(seen, AnswerStarted)
        assert started.speculative and result.answer.strip()
        assert started.call_id in {s.call_id for s in speculations}
        await session.close()
    finally:
        await engine.close()
