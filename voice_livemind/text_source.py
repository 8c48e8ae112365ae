"""Text arriving as a person types it: the text-replay source (no ASR)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from .session import LiveMindSession, TurnResult

DEFAULT_CPM = 240.0  # characters per minute, the paper's typing speed


async def typed_chunks(text: str, cpm: float = DEFAULT_CPM) -> AsyncIterator[str]:
    """Yield `text` on the wall clock at `cpm` characters per minute.

    Characters are scheduled against the start time rather than slept one by one, so slow
    consumers make chunks larger instead of making the typing drift.
    """
    if cpm <= 0:
        raise ValueError(f"typing speed must be positive, got {cpm} characters/min")
    loop = asyncio.get_running_loop()
    start = loop.time()
    per_char = 60.0 / cpm
    sent = 0
    while sent < len(text):
        due = min(len(text), int((loop.time() - start) / per_char) + 1)
        if due > sent:
            yield text[sent:due]
            sent = due
        if sent < len(text):
            await asyncio.sleep(max(0.0, start + sent * per_char - loop.time()))


async def replay_text(session: LiveMindSession, text: str, cpm: float = DEFAULT_CPM) -> TurnResult:
    """Type `text` into `session` in real time, end the input and return the answered turn."""
    async for chunk in typed_chunks(text, cpm):
        session.feed(chunk)
    return await session.end()
