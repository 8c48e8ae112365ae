"""Any OpenAI-compatible chat server behind the `ChatEngine` interface.

Aimed first at a remote vLLM deployment (`vllm serve`, tensor/pipeline parallel, several
nodes) and usable with OpenAI itself, as in the paper. vLLM extensions are used when the
server offers them: structured outputs (`structured_outputs.regex`), cached prompt token
counts (`--enable-prompt-tokens-details`) and `/tokenize` for exact context budgets.

The server renders the chat template and tokenizes the result, special-token strings included,
so control-token strings in message content are broken up before sending
(`plain_text.escape_control_text`): a user cannot forge a system or assistant turn.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import openai

from .base import (
    Chunk,
    EngineError,
    EngineTimeoutError,
    EngineUnavailableError,
    Message,
    PromptTooLongError,
    SamplingSettings,
    Usage,
)
from .plain_text import escape_messages

_CHARS_PER_TOKEN = 3  # a cautious estimate when the server cannot count for us


class OpenAIEngine:
    """Chat completions from `base_url` (e.g. http://gpu-box:8000/v1). Create with `start()`."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        name: str,
        context_tokens: int,
        vllm_extensions: bool,
    ) -> None:
        self._client = client
        self.name = name
        self.context_tokens = context_tokens
        self.reports_logprobs = True  # OpenAI's `logprobs`/`top_logprobs`, vLLM's server too
        self.vllm_extensions = vllm_extensions
        self._streams: dict[str, Any] = {}
        self._aborted: set[str] = set()

    @classmethod
    async def start(
        cls,
        base_url: str,
        model: str | None = None,
        *,
        api_key: str = "EMPTY",
        timeout_s: float = 60.0,
        context_tokens: int | None = None,
    ) -> OpenAIEngine:
        """Connect and check the server answers; pick its only model when `model` is None."""
        client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=0
        )
        try:
            models = (await client.models.list()).data
        except openai.APITimeoutError as exc:
            raise EngineTimeoutError(
                f"the LLM server at {base_url} did not answer in time"
            ) from exc
        except openai.APIConnectionError as exc:
            raise EngineUnavailableError(f"cannot reach the LLM server at {base_url}") from exc
        except openai.APIStatusError as exc:
            raise EngineUnavailableError(
                f"LLM server at {base_url} answered {exc.status_code}: {exc.message}"
            ) from exc
        card = next((m for m in models if model in (None, m.id)), None)
        if card is None:
            names = ", ".join(m.id for m in models) or "none"
            raise EngineUnavailableError(
                f"model {model!r} is not served at {base_url} (served: {names})"
            )
        # vLLM's model card carries max_model_len; OpenAI's does not.
        served_len = getattr(card, "max_model_len", None) or (card.model_extra or {}).get(
            "max_model_len"
        )
        return cls(
            client,
            name=card.id,
            context_tokens=context_tokens or served_len or 8192,
            vllm_extensions=served_len is not None,
        )

    async def count_tokens(self, messages: Sequence[Message]) -> int:
        if self.vllm_extensions:
            url = str(self._client.base_url).rstrip("/").removesuffix("/v1") + "/tokenize"
            try:
                body = {"model": self.name, "messages": escape_messages(messages)}
                body |= _prefill(messages)
                async with httpx.AsyncClient(timeout=10) as http:
                    reply = await http.post(url, json=body)
                reply.raise_for_status()
                return int(reply.json()["count"])
            except (httpx.HTTPError, KeyError, ValueError):
                pass
        return sum(len(m["content"]) + 8 for m in messages) // _CHARS_PER_TOKEN

    async def stream(
        self, messages: Sequence[Message], settings: SamplingSettings, request_id: str
    ) -> AsyncIterator[Chunk]:
        extra: dict[str, Any] = {}
        if self.vllm_extensions:
            extra["request_id"] = request_id
            if settings.regex:
                extra["structured_outputs"] = {"regex": settings.regex}
            if settings.repetition_penalty != 1.0:
                extra["repetition_penalty"] = settings.repetition_penalty
            extra |= _prefill(messages)
        if settings.top_logprobs:
            extra |= {"logprobs": True, "top_logprobs": settings.top_logprobs}
        try:
            stream = await self._client.chat.completions.create(
                model=self.name,
                messages=escape_messages(messages),  # type: ignore[arg-type]
                max_tokens=settings.max_tokens,
                temperature=settings.temperature,
                stop=list(settings.stop) or None,
                stream=True,
                stream_options={"include_usage": True},
                extra_body=extra or None,
            )
        except openai.APIError as exc:
            raise _engine_error(exc, self.name) from exc
        self._streams[request_id] = stream
        first_at = last_at = None
        finish: str | None = None
        usage_info: Any = None
        try:
            async for event in stream:
                if event.usage is not None:
                    usage_info = event.usage
                for choice in event.choices:
                    finish = choice.finish_reason or finish
                    if choice.delta.content:
                        last_at = time.monotonic()
                        first_at = first_at or last_at
                        yield Chunk(text=choice.delta.content, top_logprobs=_top(choice))
        except (openai.APIError, httpx.HTTPError) as exc:
            if request_id not in self._aborted:
                if isinstance(exc, openai.APIError):
                    raise _engine_error(exc, self.name) from exc
                raise EngineUnavailableError(f"connection to the LLM server lost: {exc}") from exc
            finish = "abort"  # abort() closed the stream under us
        finally:
            self._streams.pop(request_id, None)
            self._aborted.discard(request_id)
            await stream.close()
        details = getattr(usage_info, "prompt_tokens_details", None)
        yield Chunk(
            done=True,
            usage=Usage(
                prompt_tokens=getattr(usage_info, "prompt_tokens", 0) or 0,
                cached_prompt_tokens=getattr(details, "cached_tokens", None),
                generated_tokens=getattr(usage_info, "completion_tokens", 0) or 0,
                first_token_at=first_at,
                last_token_at=last_at,
                finish_reason=finish,
            ),
        )

    async def abort(self, request_id: str) -> None:
        # Closing the HTTP stream makes vLLM abort the request server-side.
        stream = self._streams.pop(request_id, None)
        if stream is not None:
            self._aborted.add(request_id)
            await stream.close()

    async def close(self) -> None:
        await self._client.close()


def _top(choice: Any) -> tuple[dict[str, float], ...]:
    """The OpenAI per-token `logprobs.content[i].top_logprobs` as {token text: log-prob}."""
    content = getattr(getattr(choice, "logprobs", None), "content", None) or ()
    return tuple({t.token: t.logprob for t in (item.top_logprobs or ())} for item in content)


def _prefill(messages: Sequence[Message]) -> dict[str, bool]:
    """vLLM's options to continue a final assistant message rather than open a new turn."""
    if messages and messages[-1]["role"] == "assistant":
        return {"add_generation_prompt": False, "continue_final_message": True}
    return {}


def _engine_error(exc: openai.APIError, model: str) -> EngineError:
    if isinstance(exc, openai.APITimeoutError):
        return EngineTimeoutError(f"the LLM server did not answer in time ({model})")
    if isinstance(exc, openai.APIConnectionError):
        return EngineUnavailableError(f"cannot reach the LLM server ({model}): {exc.message}")
    message = getattr(exc, "message", str(exc))
    if isinstance(exc, openai.BadRequestError) and "context" in message.lower():
        return PromptTooLongError(f"prompt too long for {model}: {message.splitlines()[0]}")
    return EngineError(f"LLM server error ({model}): {message.splitlines()[0]}")
