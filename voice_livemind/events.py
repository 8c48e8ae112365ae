"""One event vocabulary for the whole pipeline.

Every stage publishes small frozen records with a timestamp `t` (seconds on the shared
monotonic `Clock`). The latency log is nothing but these events serialised as JSONL, so
metrics are computed from the log, never from counters scattered through the code.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar


class Clock:
    """Monotonic seconds since the stream started; shared by every stage of one run."""

    def __init__(self) -> None:
        self.started_at = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.started_at

    def since(self, monotonic_t: float | None) -> float | None:
        """Convert an absolute `time.monotonic()` reading (as engines report) to clock time."""
        return None if monotonic_t is None else monotonic_t - self.started_at


@dataclass(frozen=True, kw_only=True)
class Event:
    type: ClassVar[str] = "event"
    t: float
    turn: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **asdict(self)}


@dataclass(frozen=True, kw_only=True)
class TokenCounts:
    """What one model call cost: prompt tokens, those served from the prefix cache, output."""

    prompt_tokens: int = 0
    cached_prompt_tokens: int | None = None
    generated_tokens: int = 0


@dataclass(frozen=True, kw_only=True)
class SegmentCommitted(Event):
    type: ClassVar[str] = "segment"
    index: int
    text: str


@dataclass(frozen=True, kw_only=True)
class InputRevised(Event):
    """Earlier input changed (an ASR correction, an edit); `dropped_inferences` were invalidated."""

    type: ClassVar[str] = "input_revised"
    common_prefix_chars: int
    dropped_inferences: int


@dataclass(frozen=True, kw_only=True)
class InferenceStarted(Event):
    type: ClassVar[str] = "inference_started"
    call_id: str
    new_text: str


@dataclass(frozen=True, kw_only=True)
class InferenceDone(Event):
    type: ClassVar[str] = "inference_done"
    call_id: str
    action: str  # "inference" | "wait"
    text: str  # the inference content ("" for wait)
    valid: bool  # the reply followed the action format
    tokens: TokenCounts = field(default_factory=TokenCounts)


@dataclass(frozen=True, kw_only=True)
class InferenceAborted(Event):
    type: ClassVar[str] = "inference_aborted"
    call_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class InputEnded(Event):
    type: ClassVar[str] = "input_ended"
    text: str
    in_flight: bool  # an inference was running when input ended


@dataclass(frozen=True, kw_only=True)
class AnswerStarted(Event):
    type: ClassVar[str] = "answer_started"
    call_id: str
    mode: str  # "livemind" | "baseline"
    speculative: bool = False  # the answer was started before the end of input, and kept


@dataclass(frozen=True, kw_only=True)
class SpeculationStarted(Event):
    """The final answer was started before the end of input (the user paused), on `text`."""

    type: ClassVar[str] = "speculation_started"
    call_id: str
    text: str


@dataclass(frozen=True, kw_only=True)
class SpeculationDiscarded(Event):
    """The speculative answer was thrown away (the user went on); nothing of it remains."""

    type: ClassVar[str] = "speculation_discarded"
    call_id: str
    reason: str
    generated_chars: int  # answer text made before it was dropped


@dataclass(frozen=True, kw_only=True)
class AnswerFirstToken(Event):
    type: ClassVar[str] = "answer_first_token"
    call_id: str


@dataclass(frozen=True, kw_only=True)
class AnswerDelta(Event):
    type: ClassVar[str] = "answer_delta"
    text: str


@dataclass(frozen=True, kw_only=True)
class AnswerDone(Event):
    type: ClassVar[str] = "answer_done"
    call_id: str
    text: str
    finish_reason: str | None  # of the reply itself: "length" when it hit its token limit
    tokens: TokenCounts = field(default_factory=TokenCounts)
    # The reply stated no option letter, so one constrained continuation asked for it.
    letter_extracted: bool = False


@dataclass(frozen=True, kw_only=True)
class ErrorEvent(Event):
    type: ClassVar[str] = "error"
    message: str


class EventBus:
    """Fan-out of events to subscribers, each with its own queue (a slow one delays no one)."""

    def __init__(self) -> None:
        self._queues: list[asyncio.Queue[Event | None]] = []

    def subscribe(self) -> asyncio.Queue[Event | None]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._queues.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event | None]) -> None:
        self._queues.remove(queue)

    def publish(self, event: Event) -> None:
        for queue in self._queues:
            queue.put_nowait(event)

    def close(self) -> None:
        """Tell every subscriber that no more events will come (it receives `None`)."""
        for queue in self._queues:
            queue.put_nowait(None)


class JsonlLog:
    """The latency log: one event a line, written and flushed as it happens."""

    def __init__(self, path: str | Path) -> None:
        self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def write(self, event: Event) -> None:
        self._file.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    async def consume(self, queue: asyncio.Queue[Event | None]) -> None:
        while (event := await queue.get()) is not None:
            self.write(event)
