"""Text arriving as a person types it: the text-replay source (no ASR).

Two clocks:
- real time (`replay_text`): characters arrive on the wall clock while the model works
  concurrently, as a live user sees it;
- the paper's clock (`replay_text_simulated`): typing is simulated, model time is real. While the
  model is idle, virtual time jumps to the next keystroke that matters; while it works, virtual
  time runs with the wall clock and text typed meanwhile is delivered as the call finishes. A
  question then costs only its model time to benchmark, with the latencies a live user would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from .segmenter import segment
from .session import LiveMindSession, TurnResult

DEFAULT_CPM = 240.0  # characters per minute, the paper's typing speed


def _seconds_per_char(cpm: float) -> float:
    if cpm <= 0:
        raise ValueError(f"typing speed must be positive, got {cpm} characters/min")
    return 60.0 / cpm


async def typed_chunks(text: str, cpm: float = DEFAULT_CPM) -> AsyncIterator[str]:
    """Yield `text` on the wall clock at `cpm` characters per minute (character i at i*60/cpm s).

    Characters are scheduled against the start time rather than slept one by one, so slow
    consumers make chunks larger instead of making the typing drift.
    """
    per_char = _seconds_per_char(cpm)
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    while sent < len(text):
        due = min(len(text), int((loop.time() - start) / per_char) + 1)
        if due > sent:
            yield text[sent:due]
            sent = due
        if sent < len(text):
            await asyncio.sleep(max(0.0, start + sent * per_char - loop.time()))


@dataclass
class VirtualClock:
    """Maps the session's real clock to the paper's clock: virtual = real + offset, where the
    offset grows at each jump over idle time. `shifts` holds (real t, offset from then on)."""

    shifts: list[tuple[float, float]] = field(default_factory=list)

    def virtual(self, real_t: float) -> float:
        offset = 0.0
        for since, value in self.shifts:
            if real_t >= since:
                offset = value
        return real_t + offset


def feed_points(text: str, granularity: str) -> list[int]:
    """Offsets after which newly typed text can change what is stable: every word end, and the
    first character of every segment (which completes the one before)."""
    if granularity == "char":
        return list(range(1, len(text) + 1))
    points = {m.end() for m in re.finditer(r"\S+\s*", text)}
    starts, offset = [], 0
    for piece in segment(text, granularity):
        starts.append(offset)
        offset += len(piece)
    points.update(s + 1 for s in starts[1:])
    return sorted(p for p in points if 0 < p <= len(text)) or [len(text)]


async def replay_text(
    session: LiveMindSession, text: str, cpm: float = DEFAULT_CPM, tail: str = ""
) -> TurnResult:
    """Type `text` into `session` in real time, add `tail` at once (e.g. the options of a
    question, as the paper delivers them), end the input and return the answered turn."""
    async for chunk in typed_chunks(text, cpm):
        session.feed(chunk)
    session.feed(tail)
    return await session.end()


async def replay_text_simulated(
    session: LiveMindSession, text: str, cpm: float = DEFAULT_CPM, tail: str = ""
) -> tuple[TurnResult, VirtualClock]:
    """Type `text` into `session` on the paper's clock (see the module docstring).

    Returns the turn and the clock mapping session times to virtual times, where input starts
    at 0 and the last character arrives at (len(text) - 1) * 60 / cpm.
    """
    per_char = _seconds_per_char(cpm)
    clock = VirtualClock([(session.clock.now(), -session.clock.now())])
    fed = 0
    for point in feed_points(text, session.config.granularity):
        arrival = (point - 1) * per_char
        virtual_now = clock.virtual(session.clock.now())
        # Still working when this text arrives? Then virtual time ran with the wall clock.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.until_idle(), timeout=max(0.0, arrival - virtual_now))
        real_now = session.clock.now()
        if clock.virtual(real_now) < arrival:  # idle: jump to the keystroke
            clock.shifts.append((real_now, arrival - real_now))
        session.feed(text[fed:point])
        fed = point
        await asyncio.sleep(0)  # let the session start thinking on what just arrived
    session.feed(tail)
    return await session.end(), clock
