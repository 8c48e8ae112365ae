"""Typed text replay: chunks arrive on the wall clock at the given typing speed."""

from __future__ import annotations

import asyncio

import pytest
from scripted_engine import ScriptedEngine

from voice_livemind.livemind.config import EndPolicy, SessionConfig
from voice_livemind.livemind.prompts import PromptFormat
from voice_livemind.livemind.session import LiveMindSession
from voice_livemind.livemind.text_source import replay_text, typed_chunks


async def test_typed_chunks_rebuild_the_text_at_roughly_the_typing_speed():
    loop = asyncio.get_running_loop()
    start = loop.time()
    chunks = [chunk async for chunk in typed_chunks("abcdef", cpm=6000)]  # 10 ms a character
    elapsed = loop.time() - start
    assert "".join(chunks) == "abcdef"
    assert all(chunks)
    assert 0.03 <= elapsed <= 1.0


async def test_typed_chunks_of_empty_text_yields_nothing():
    assert [chunk async for chunk in typed_chunks("", cpm=240)] == []


async def test_a_slow_consumer_gets_bigger_chunks_instead_of_drift():
    loop = asyncio.get_running_loop()
    start = loop.time()
    chunks = []
    async for chunk in typed_chunks("x" * 20, cpm=12000):  # 5 ms a character, 0.1 s in all
        chunks.append(chunk)
        if len(chunks) == 1:
            await asyncio.sleep(0.05)
    elapsed = loop.time() - start
    assert "".join(chunks) == "x" * 20
    assert len(chunks[1]) > 1  # the characters due during the stall come together
    assert elapsed < 0.5


@pytest.mark.parametrize("cpm", [0, -10])
async def test_typed_chunks_rejects_a_non_positive_speed(cpm):
    with pytest.raises(ValueError, match="positive"):
        async for _ in typed_chunks("abc", cpm=cpm):
            pass


async def test_replay_text_types_into_the_session_and_answers():
    engine = ScriptedEngine()
    # `wait`: on a busy machine the second inference may still be running when typing ends.
    config = SessionConfig(
        min_segment_chars=0, prompt_format=PromptFormat.UA_SPI, end_policy=EndPolicy.WAIT
    )
    session = LiveMindSession(engine, config)
    text = "The cat sat down. Then it slept. Why did it?"
    result = await replay_text(session, text, cpm=30000)  # 2 ms a character
    assert result.text == text
    assert result.answer == "The answer is 42."
    assert len(engine.answer_calls) == 1
    assert [c.last_user for c in engine.inference_calls] == [
        "The cat sat down. ",
        "Then it slept. ",
    ]
