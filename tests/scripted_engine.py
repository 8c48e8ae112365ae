"""A fake `ChatEngine` for session tests: scripted replies, optional delays, full bookkeeping.

`ScriptedEngine` records every call (messages, settings, request id), answers with a function
of (messages, settings) (given `logprobs`, it also reports the top tokens at a reply's first
position), can sleep before each streamed chunk or hold calls at a gate until the test
releases them, and tracks which requests are in flight, completed, cancelled or
aborted.
A reply function that raises (e.g. `EngineError`) makes the engine fail that call.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass

from voice_livemind.livemind.prompts import COT_SYSTEM, FINAL_INSTRUCTION
from voice_livemind.llm.base import Chunk, Message, SamplingSettings, Usage

Reply = Callable[[list[Message], SamplingSettings], str]
# The top tokens and their log-probabilities at a reply's first position.
Logprobs = Callable[[list[Message]], Mapping[str, float]]
Delay = float | Callable[[list[Message], SamplingSettings], float]

DEFAULT_INFERENCE = "action inference. noted"
DEFAULT_ANSWER = "The answer is 42."


def is_answer_prompt(messages: Sequence[Message]) -> bool:
    """An answer call: the baseline's system prompt, or the final instruction at the end (before
    an assistant prefill, if any)."""
    last_user = next(m for m in reversed(messages) if m["role"] != "assistant")
    return messages[0]["content"] == COT_SYSTEM or FINAL_INSTRUCTION in last_user["content"]


def default_reply(messages: list[Message], settings: SamplingSettings) -> str:
    return DEFAULT_ANSWER if is_answer_prompt(messages) else DEFAULT_INFERENCE


def reasoning_then_letter(reply: str, letter: str = "C"):
    """Replies `reply` to the question; asked to state the letter (after "... is ("), states
    `letter`."""

    def answer(messages: list[Message], settings: SamplingSettings) -> str:
        if messages[-1]["role"] == "assistant" and messages[-1]["content"].endswith("is ("):
            return f"{letter})"
        return reply if is_answer_prompt(messages) else DEFAULT_INFERENCE

    return answer


def approx_tokens(messages: Sequence[Message]) -> int:
    """A deterministic stand-in for a tokenizer: 4 characters a token, 4 tokens a message."""
    return sum(len(m["content"]) // 4 + 4 for m in messages)


@dataclass
class Call:
    request_id: str
    messages: list[Message]
    settings: SamplingSettings

    @property
    def is_answer(self) -> bool:
        return is_answer_prompt(self.messages)

    @property
    def last_user(self) -> str:
        return next(m["content"] for m in reversed(self.messages) if m["role"] == "user")


class ScriptedEngine:
    """Implements the `ChatEngine` protocol without a model."""

    def __init__(
        self,
        reply: Reply | str | None = None,
        *,
        delay: Delay = 0.0,
        name: str = "scripted",
        context_tokens: int = 100_000,
        count: Callable[[Sequence[Message]], int] = approx_tokens,
        logprobs: Logprobs | None = None,
    ) -> None:
        if isinstance(reply, str):
            text = reply
            self._reply: Reply = lambda messages, settings: text
        else:
            self._reply = reply or default_reply
        self._delay = delay
        self._count = count
        self.name = name
        self.context_tokens = context_tokens
        self._logprobs = logprobs
        self.reports_logprobs = logprobs is not None
        self.calls: list[Call] = []
        self.in_flight: set[str] = set()
        self.max_in_flight = 0
        self.completed: list[str] = []
        self.cancelled: list[str] = []
        self.failed: list[str] = []
        self.aborted: list[str] = []
        self.count_calls = 0
        self.closed = False
        self._gate: asyncio.Event | None = None
        self._gate_applies: Callable[[list[Message]], bool] = lambda messages: True

    # -- holding calls in flight -----------------------------------------------------------

    def hold(self, only: Callable[[list[Message]], bool] | None = None) -> None:
        """Make new calls (those `only` selects) wait before their first chunk until release()."""
        self._gate = asyncio.Event()
        self._gate_applies = only or (lambda messages: True)

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()
            self._gate = None

    # -- views for assertions --------------------------------------------------------------

    @property
    def inference_calls(self) -> list[Call]:
        return [c for c in self.calls if not c.is_answer]

    @property
    def answer_calls(self) -> list[Call]:
        return [c for c in self.calls if c.is_answer]

    # -- ChatEngine ------------------------------------------------------------------------

    def _delay_for(self, messages: list[Message], settings: SamplingSettings) -> float:
        return self._delay(messages, settings) if callable(self._delay) else self._delay

    async def stream(
        self, messages: Sequence[Message], settings: SamplingSettings, request_id: str
    ) -> AsyncIterator[Chunk]:
        messages = [dict(m) for m in messages]  # a snapshot: callers may reuse their lists
        self.calls.append(Call(request_id, messages, settings))
        self.in_flight.add(request_id)
        self.max_in_flight = max(self.max_in_flight, len(self.in_flight))
        try:
            gate = self._gate
            if gate is not None and self._gate_applies(messages):
                await gate.wait()
            delay = self._delay_for(messages, settings)
            text = self._reply(messages, settings)
            pieces = re.findall(r"\S+\s*|\s+", text)
            first_at = last_at = None
            for piece in pieces:
                if delay:
                    await asyncio.sleep(delay)
                now = time.monotonic()
                top = ()
                if settings.top_logprobs and self._logprobs is not None and first_at is None:
                    top = (self._logprobs(messages),)
                first_at = first_at or now
                last_at = now
                yield Chunk(text=piece, top_logprobs=top)
            usage = Usage(
                prompt_tokens=self._count(messages),
                generated_tokens=len(pieces),
                first_token_at=first_at,
                last_token_at=last_at,
                finish_reason="stop",
            )
            self.completed.append(request_id)
            yield Chunk(done=True, usage=usage)
        except asyncio.CancelledError:
            self.cancelled.append(request_id)
            raise
        except Exception:
            self.failed.append(request_id)
            raise
        finally:
            self.in_flight.discard(request_id)

    async def count_tokens(self, messages: Sequence[Message]) -> int:
        self.count_calls += 1
        return self._count(messages)

    async def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)

    async def close(self) -> None:
        self.closed = True


async def wait_until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    """Poll `predicate` on the event loop until it holds; fail the test after `timeout` s."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.002)


def drain(queue: asyncio.Queue) -> list:
    """Everything queued so far (events), without waiting; `None` (bus closed) ends it."""
    events = []
    while not queue.empty():
        event = queue.get_nowait()
        if event is None:
            break
        events.append(event)
    return events
