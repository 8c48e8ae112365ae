"""In-process vLLM (`AsyncLLM`) behind the `ChatEngine` interface.

Prompts are rendered with the model's own chat template and sent as token ids, with prefix
caching on: when a conversation only grows at its end (LiveMind's append-only formats), the
shared prefix is served from the KV cache and only the new tokens are prefilled.
vLLM starts an engine process, so scripts using this need an `if __name__ == "__main__":` guard.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from .base import (
    Chunk,
    EngineError,
    EngineUnavailableError,
    Message,
    PromptTooLongError,
    SamplingSettings,
    Usage,
)
from .models import ModelNotFoundError, resolve_model

# Quiet by default: vLLM's INFO lines drown the terminal view. VLLM_LOGGING_LEVEL overrides.
os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
# On CPU, vLLM sizes its KV cache as a share of free memory and refuses to start when other
# processes hold some; a fixed size (GiB) starts reliably and is plenty for a few sessions.
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


# On a CPU backend the engine shares the cores with speech recognition, which is on the critical
# path: LiveMind's inferences run while the user talks, and a Whisper decode slowed by them
# delays the end of the utterance and the answer prepared in the pause. So there the engine runs
# at nice 10: Whisper runs first whenever both want the CPU and the engine takes the rest. In the
# spoken benchmark the answer prepared in the pause started 0.28-0.48 s after the end of speech
# instead of 0.27-0.62 s. Under that priority the engine need not keep a core to itself as vLLM
# does by default (one core for its scheduler): on all cores a 120-token prefill took 0.15-0.17 s
# instead of 0.22 s here (2 cores), decoding ran at 35 instead of 28 tokens/s, and a Whisper
# decode beside a generating engine still took 0.22 s (0.19 s alone; 0.38 s at equal priority).
CPU_ENGINE_NICENESS = 10


def lower_engine_priority(niceness: int) -> None:
    """Lower the CPU priority of this process's vLLM engine processes (every thread) by
    `niceness` relative to this process. Silently nothing where Unix priorities do not exist."""
    if not hasattr(os, "setpriority"):
        return
    import psutil

    target = min(19, os.getpriority(os.PRIO_PROCESS, 0) + niceness)
    for child in psutil.Process().children(recursive=True):
        try:
            if not child.name().startswith("VLLM"):
                continue
            for thread in child.threads():  # Linux: each thread has its own priority
                os.setpriority(os.PRIO_PROCESS, thread.id, target)
        except (psutil.Error, OSError):
            continue  # gone, or not ours to change: it keeps its priority


class VllmEngine:
    """A model loaded into this process by vLLM. Create with `await VllmEngine.start(...)`."""

    def __init__(self, llm: Any, name: str, context_tokens: int) -> None:
        self._llm = llm
        self._tokenizer = llm.get_tokenizer()
        self.name = name
        self.context_tokens = context_tokens

    @classmethod
    async def start(
        cls,
        model: str | None = None,
        *,
        max_model_len: int = 2048,
        dtype: str = "auto",
        niceness: int | None = None,
        **engine_kwargs: Any,
    ) -> VllmEngine:
        """Load `model` (see `resolve_model`) and start the engine.

        `niceness`: lower the engine processes' CPU priority by this much (Unix nice). None:
        `CPU_ENGINE_NICENESS` on a CPU backend (see there), 0 elsewhere. Extra keyword arguments
        go to vLLM's `AsyncEngineArgs` (e.g. `tensor_parallel_size`, `quantization`,
        `gpu_memory_utilization`).
        """
        path = resolve_model(model)
        try:
            from vllm import AsyncEngineArgs
            from vllm.platforms import current_platform
            from vllm.v1.engine.async_llm import AsyncLLM
        except ImportError as exc:
            raise EngineUnavailableError(
                f"vLLM is not installed ({exc}); install voice-livemind[cpu] or [gpu]"
            ) from exc
        engine_kwargs.setdefault("enforce_eager", current_platform.is_cpu())
        if current_platform.is_cpu():
            # The prefix cache reuses whole blocks only, and the CPU backend's default block is
            # 128 tokens: a prompt that grows by a sentence (LiveMind's steps, an answer prepared
            # at each pause) re-prefilled up to 127 tokens. With 32-token blocks the first token
            # of such a prompt came 0.07 s sooner here (0.12-0.17 s against 0.19-0.25 s), at the
            # same decode speed. The backend wants multiples of 32.
            engine_kwargs.setdefault("block_size", 32)
            niceness = CPU_ENGINE_NICENESS if niceness is None else niceness
            if niceness > 0:
                os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")  # every core
        args = AsyncEngineArgs(
            model=path,
            dtype=dtype,
            max_model_len=max_model_len,
            enable_prefix_caching=True,
            disable_log_stats=True,
            **engine_kwargs,
        )
        try:
            llm = AsyncLLM.from_engine_args(args)
        except Exception as exc:
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelNotFoundError(f"vLLM could not load {model or path}: {first_line}") from exc
        if niceness:
            lower_engine_priority(niceness)
        name = model or os.path.basename(path)
        return cls(llm, name=name, context_tokens=max_model_len)

    def _prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        prefill = bool(messages) and messages[-1]["role"] == "assistant"
        text = self._tokenizer.apply_chat_template(
            list(messages),
            tokenize=False,
            add_generation_prompt=not prefill,
            continue_final_message=prefill,
        )
        return self._tokenizer.encode(text, add_special_tokens=False)

    async def count_tokens(self, messages: Sequence[Message]) -> int:
        return len(self._prompt_ids(messages))

    async def stream(
        self, messages: Sequence[Message], settings: SamplingSettings, request_id: str
    ) -> AsyncIterator[Chunk]:
        from vllm.inputs import TokensPrompt
        from vllm.sampling_params import RequestOutputKind, SamplingParams, StructuredOutputsParams

        prompt_ids = self._prompt_ids(messages)
        room = self.context_tokens - len(prompt_ids)
        if room < 1:
            raise PromptTooLongError(
                f"prompt of {len(prompt_ids)} tokens does not fit the "
                f"{self.context_tokens}-token context of {self.name}"
            )
        params = SamplingParams(
            max_tokens=min(settings.max_tokens, room),
            temperature=settings.temperature,
            repetition_penalty=settings.repetition_penalty,
            stop=list(settings.stop) or None,
            output_kind=RequestOutputKind.DELTA,
            structured_outputs=(
                StructuredOutputsParams(regex=settings.regex) if settings.regex else None
            ),
        )
        generated = 0
        cached: int | None = None
        first_at: float | None = None
        last_at: float | None = None
        finish: str | None = None
        outputs = self._llm.generate(TokensPrompt(prompt_token_ids=prompt_ids), params, request_id)
        try:
            async with contextlib.aclosing(outputs):
                async for out in outputs:
                    cached = out.num_cached_tokens
                    completion = out.outputs[0]
                    if completion.token_ids:
                        last_at = time.monotonic()
                        first_at = first_at or last_at
                        generated += len(completion.token_ids)
                    finish = completion.finish_reason or finish
                    if completion.text:
                        yield Chunk(text=completion.text)
        except Exception as exc:  # cancellation is a BaseException and passes through
            cause = exc.__cause__ or exc
            raise EngineError(f"vLLM request failed: {type(cause).__name__}: {cause}") from exc
        yield Chunk(
            done=True,
            usage=Usage(
                prompt_tokens=len(prompt_ids),
                cached_prompt_tokens=cached,
                generated_tokens=generated,
                first_token_at=first_at,
                last_token_at=last_at,
                finish_reason=finish,
            ),
        )

    @property
    def failed(self) -> bool:
        """The engine process is gone (killed, crashed): no request can succeed any more."""
        return bool(self._llm.errored)

    async def reset_prefix_cache(self) -> None:
        """Forget cached KV blocks, so that measurements start cold."""
        await self._llm.reset_prefix_cache()

    async def abort(self, request_id: str) -> None:
        await self._llm.abort(request_id)

    async def close(self) -> None:
        self._llm.shutdown()
        # AsyncLLM.__del__ calls shutdown() again, which fails noisily at interpreter exit
        # (module globals already gone); one shutdown is enough.
        self._llm.shutdown = lambda *args, **kwargs: None
