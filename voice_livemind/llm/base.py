"""The narrow interface every way of reaching a model implements.

`ChatEngine.stream(messages, settings, request_id)` yields `Chunk`s: text deltas as they are
generated, then one last chunk with `done=True` carrying the `Usage` (token counts, cached
prompt tokens, first/last token times). Asked for, text chunks also carry the most likely
tokens at each position with their log-probabilities (engines that cannot report them leave
them out: callers fall back to the text). `abort(request_id)` stops a request; cancelling the
consuming task does the same. Failures are `EngineError`s with a one-line message.

Messages that end with an assistant message ask for that message to be continued (assistant
prefill): the reply's text extends it. Servers without vLLM's `continue_final_message` (OpenAI
itself) treat it as a finished turn and reply anew.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypedDict


class Message(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class SamplingSettings:
    max_tokens: int = 256
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    # >1 discourages repeating tokens already in the prompt or output (vLLM's definition).
    repetition_penalty: float = 1.0
    # A regular expression the whole reply must match (vLLM structured outputs); engines
    # that cannot enforce it ignore it, and the caller's parser copes with free text.
    regex: str | None = None
    # How many of the most likely tokens to report, with their log-probabilities, at each
    # generated position (0: none). Raw model odds, before penalties or the regex's mask.
    top_logprobs: int = 0


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    cached_prompt_tokens: int | None = None  # None: the engine does not report it
    generated_tokens: int = 0
    first_token_at: float | None = None  # time.monotonic() readings
    last_token_at: float | None = None
    finish_reason: str | None = None  # "stop" | "length" | "abort" | ...


@dataclass(frozen=True)
class Chunk:
    text: str = ""
    done: bool = False
    usage: Usage | None = field(default=None)
    # With `SamplingSettings.top_logprobs`: for each token of `text`, token text -> log-prob.
    top_logprobs: tuple[Mapping[str, float], ...] = ()


class EngineError(RuntimeError):
    """A model call failed; str(error) is a one-line explanation."""


class EngineUnavailableError(EngineError):
    """The engine cannot be reached or could not start."""


class EngineTimeoutError(EngineError):
    """The engine did not answer in time."""


class ModelLoadError(EngineUnavailableError):
    """The engine could not load the model; the message says what failed."""


class EngineOutOfMemoryError(ModelLoadError):
    """The model and its KV cache do not fit the memory that is free."""


class UnsupportedModelError(ModelLoadError):
    """The engine has no implementation of the model's architecture."""


class PromptTooLongError(EngineError):
    """The prompt plus the requested output does not fit the model's context."""


class ChatEngine(Protocol):
    """One model behind one narrow async interface."""

    name: str  # the model's name, for logs and results
    context_tokens: int  # the model's context window
    reports_logprobs: bool  # honours `SamplingSettings.top_logprobs`

    def stream(
        self, messages: Sequence[Message], settings: SamplingSettings, request_id: str
    ) -> AsyncIterator[Chunk]: ...

    async def count_tokens(self, messages: Sequence[Message]) -> int:
        """Prompt tokens for `messages` with the chat template applied (for context budgets)."""
        ...

    async def abort(self, request_id: str) -> None: ...

    async def close(self) -> None: ...


async def complete(
    engine: ChatEngine, messages: Sequence[Message], settings: SamplingSettings, request_id: str
) -> tuple[str, Usage]:
    """Run one request to the end and return its text and usage."""
    parts: list[str] = []
    usage = Usage()
    async for chunk in engine.stream(messages, settings, request_id):
        parts.append(chunk.text)
        if chunk.usage is not None:
            usage = chunk.usage
    return "".join(parts), usage


_aborting: set[asyncio.Task[None]] = set()  # strong references until each abort is sent


def abort_in_background(abort: Callable[[str], Awaitable[None]], request_id: str) -> None:
    """Abort `request_id` explicitly after its stream was cancelled.

    Cancelling the consumer normally aborts the request, but vLLM's `generate()` only aborts
    requests it has finished adding: a cancellation that lands while the request is being
    handed to the engine core leaves it running to its token limit, stealing the engine from
    everything after it. An explicit abort closes that gap; aborting a finished or unknown
    request does nothing. Runs as a task so the cancelled caller is not held up.
    """
    task = asyncio.get_running_loop().create_task(_quietly(abort(request_id)))
    _aborting.add(task)
    task.add_done_callback(_aborting.discard)


async def _quietly(aborting: Awaitable[None]) -> None:
    with contextlib.suppress(Exception):  # the engine may be closing: nothing to abort then
        await aborting
