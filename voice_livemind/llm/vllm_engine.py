"""In-process vLLM (`AsyncLLM`) behind the `ChatEngine` interface.

Prompts are rendered with the model's own chat template and sent as token ids, message content
tokenized as plain text (`plain_text.ChatPromptTokenizer`: typed control-token strings stay
text), with prefix caching on: when a conversation only grows at its end (LiveMind's
append-only formats), the shared prefix is served from the KV cache and only the new tokens are
prefilled. vLLM starts an engine process, so scripts using this need an
`if __name__ == "__main__":` guard.

Importing this module changes nothing. `VllmEngine.start` sets, only while the engine starts
and only where the user has not set them, the environment variables vLLM reads in its engine
process: `VLLM_LOGGING_LEVEL=ERROR` (its INFO lines drown the terminal view), on a CPU
`ONEDNN_PRIMITIVE_CACHE_CAPACITY` (see `CPU_ONEDNN_PRIMITIVE_CACHE`) and, on a CPU with a
lowered priority, `VLLM_CPU_NUM_OF_RESERVED_CPU=0`; the CPU KV cache is sized with an engine
argument (1 GiB) unless `VLLM_CPU_KVCACHE_SPACE` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import re
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from .base import (
    Chunk,
    EngineError,
    EngineOutOfMemoryError,
    EngineUnavailableError,
    Message,
    ModelLoadError,
    PromptTooLongError,
    SamplingSettings,
    UnsupportedModelError,
    Usage,
)
from .models import ModelNotFoundError, resolve_model
from .plain_text import ChatPromptTokenizer

_GIB = 1 << 30
# On a CPU, vLLM sizes its KV cache as a share of free memory and refuses to start when other
# processes hold some; a fixed size starts reliably and is plenty for a few sessions.
CPU_KV_CACHE_BYTES = _GIB


# On a CPU backend the engine shares the cores with speech recognition, which is on the critical
# path: LiveMind's inferences run while the user talks, and a Whisper decode slowed by them
# delays the end of the utterance and the answer prepared in the pause. So there the engine runs
# at nice 10: Whisper runs first whenever both want the CPU and the engine takes the rest. Under
# that priority the engine need not keep a core to itself for its scheduler as vLLM does by
# default, and on every core it prefills and decodes faster (benchmarks/RESULTS.md: "Engine
# priority on a CPU", and the finding "The CPU engine at nice 10, on both cores").
CPU_ENGINE_NICENESS = 10


# oneDNN keeps every matmul primitive it has built in a process-wide cache of 1,024 by default,
# one per distinct shape, and the number of tokens a step runs (a prefill's length, the batch)
# changes the shape, so under traffic the engine's worker grows for as long as new shapes come.
# 128 holds what a step reuses and keeps the memory flat; a much smaller cache re-builds
# primitives within a step (benchmarks/RESULTS.md: "Soak" and the finding on this cache).
CPU_ONEDNN_PRIMITIVE_CACHE = 128


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


class _ScopedEnvironment:
    """Environment defaults that last only while the engine starts (its process inherits them).

    A variable the user has set is left alone; on leaving, what was added is removed again.
    """

    def __init__(self) -> None:
        self._added: list[str] = []

    def setdefault(self, name: str, value: str) -> None:
        if name not in os.environ:
            os.environ[name] = value
            self._added.append(name)

    def restore(self) -> None:
        for name in self._added:
            os.environ.pop(name, None)
        self._added.clear()


@contextlib.contextmanager
def _starting_environment() -> Iterator[_ScopedEnvironment]:
    environment = _ScopedEnvironment()
    # Read by vLLM's logging set-up when it is imported, here and in its engine process.
    environment.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    try:
        yield environment
    finally:
        environment.restore()


class VllmEngine:
    """A model loaded into this process by vLLM. Create with `await VllmEngine.start(...)`."""

    def __init__(self, llm: Any, name: str, context_tokens: int) -> None:
        self._llm = llm
        self._prompts = ChatPromptTokenizer(llm.get_tokenizer())
        self.name = name
        self.context_tokens = context_tokens
        self.reports_logprobs = True

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
        `gpu_memory_utilization`, `kv_cache_memory_bytes`).

        Failures: `ModelNotFoundError` (no such model, or no weights in its directory),
        `UnsupportedModelError` (an architecture vLLM does not implement),
        `EngineOutOfMemoryError` (weights plus KV cache exceed the free memory) and
        `ModelLoadError` for anything else, each with a one-line message.
        """
        path = resolve_model(model)
        _check_weights_exist(path)
        with _starting_environment() as environment:
            try:
                from vllm import AsyncEngineArgs
                from vllm.platforms import current_platform
                from vllm.v1.engine.async_llm import AsyncLLM
            except ImportError as exc:
                raise EngineUnavailableError(
                    f"vLLM is not installed ({exc}); install voice-livemind[cpu] or [gpu]"
                ) from exc
            on_cpu = current_platform.is_cpu()
            engine_kwargs.setdefault("enforce_eager", on_cpu)
            if on_cpu:
                # The prefix cache reuses whole blocks only, and the CPU backend's default block
                # is 128 tokens: a prompt that grows by a sentence (LiveMind's steps, an answer
                # prepared at each pause) would re-prefill up to 127 tokens. The backend wants
                # multiples of 32.
                engine_kwargs.setdefault("block_size", 32)
                if not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):  # the user's size wins
                    engine_kwargs.setdefault("kv_cache_memory_bytes", CPU_KV_CACHE_BYTES)
                environment.setdefault(
                    "ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(CPU_ONEDNN_PRIMITIVE_CACHE)
                )
                niceness = CPU_ENGINE_NICENESS if niceness is None else niceness
                if niceness > 0:
                    environment.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")  # every core
                _check_memory(path, _kv_cache_bytes(engine_kwargs), model or path)
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
                raise _load_error(exc, model or path) from exc
        if niceness:
            lower_engine_priority(niceness)
        engine = cls(llm, name=model or os.path.basename(path), context_tokens=max_model_len)
        # vLLM's imports above keep a traceback whose frames lead back to this one: a local
        # left here would keep the AsyncLLM alive after close() until interpreter exit.
        del llm
        return engine

    def prompt_ids(self, messages: Sequence[Message]) -> list[int]:
        """The token ids sent for `messages`: the chat template's control tokens around
        content tokenized as plain text."""
        return self._prompts.prompt_ids(messages)

    async def count_tokens(self, messages: Sequence[Message]) -> int:
        return len(self.prompt_ids(messages))

    async def stream(
        self, messages: Sequence[Message], settings: SamplingSettings, request_id: str
    ) -> AsyncIterator[Chunk]:
        from vllm.inputs import TokensPrompt
        from vllm.sampling_params import RequestOutputKind, SamplingParams, StructuredOutputsParams

        prompt_ids = self.prompt_ids(messages)
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
            logprobs=settings.top_logprobs or None,
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
                        yield Chunk(text=completion.text, top_logprobs=_top(completion.logprobs))
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
        """The engine process is gone (killed, crashed): no request can succeed any more.
        False once closed: a closed engine did not fail."""
        return self._llm is not None and bool(self._llm.errored)

    async def reset_prefix_cache(self) -> None:
        """Forget cached KV blocks, so that measurements start cold."""
        await self._llm.reset_prefix_cache()

    async def abort(self, request_id: str) -> None:
        await self._llm.abort(request_id)

    async def close(self) -> None:
        """Stop the engine process. Once is enough: later calls do nothing."""
        llm, self._llm = self._llm, None
        if llm is None:
            return
        llm.shutdown()
        # AsyncLLM.__del__ shuts down again; run it now, while the interpreter is whole, rather
        # than at exit, where it fails noisily on half-torn-down modules. Its output handler
        # task refers to it until the cancellation that shutdown() sent has run, and it holds
        # reference cycles: let the task finish, then collect.
        handler = getattr(llm, "output_handler", None)
        if isinstance(handler, asyncio.Task) and handler.get_loop() is asyncio.get_running_loop():
            await asyncio.wait([handler])
        del llm, handler
        gc.collect()


def _top(logprobs: Any) -> tuple[dict[str, float], ...]:
    """vLLM's per-position {token id: Logprob} as {token text: log-prob}."""
    if not logprobs:
        return ()
    return tuple(
        {lp.decoded_token: lp.logprob for lp in position.values() if lp.decoded_token is not None}
        for position in logprobs
    )


def _check_weights_exist(path: str) -> None:
    """A local model directory without weight files fails in vLLM's engine process, whose
    error the caller never sees: say so before starting."""
    directory = Path(path)
    if not directory.is_dir():
        return  # an HF id: vLLM finds it in the HF cache
    patterns = ("*.safetensors", "*.bin", "*.pt", "*.gguf")
    if not any(next(directory.glob(p), None) for p in patterns):
        raise ModelNotFoundError(f"{directory} has no model weights (*.safetensors or *.bin)")


def _weights_bytes(path: str) -> int:
    directory = Path(path)
    if not directory.is_dir():
        return 0  # unknown here
    files = [*directory.glob("*.safetensors")] or [*directory.glob("*.bin")]
    return sum(f.stat().st_size for f in files)


def _kv_cache_bytes(engine_kwargs: dict[str, Any]) -> int:
    if space := os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
        with contextlib.suppress(ValueError):
            return int(space) * _GIB
    return int(engine_kwargs.get("kv_cache_memory_bytes") or 0)


def _check_memory(path: str, kv_cache_bytes: int, model: str) -> None:
    """On a CPU the engine process holds the weights and the KV cache in RAM; when they cannot
    fit, it dies with an error the caller never sees. Say so before starting."""
    import psutil

    needed = _weights_bytes(path) + kv_cache_bytes
    available = psutil.virtual_memory().available
    if needed > available:
        raise EngineOutOfMemoryError(
            f"not enough memory for {model}: weights and KV cache need {needed / _GIB:.1f} GiB, "
            f"{available / _GIB:.1f} GiB is free (set VLLM_CPU_KVCACHE_SPACE lower, in GiB, "
            "or free memory)"
        )


_OUT_OF_MEMORY = re.compile(
    r"out of memory|Available memory on node|No available memory for the cache|"
    r"insufficient memory|Cannot allocate memory",
    re.IGNORECASE,
)
_UNSUPPORTED = re.compile(r"Model architectures? \[[^\]]*\] (?:are|is) not supported[^.]*")
_MISSING = re.compile(
    r"not a valid model identifier|does not appear to have a file named|"
    r"Repo id must be in the form|No such file or directory|Repository Not Found",
    re.IGNORECASE,
)


def _load_error(exc: BaseException, model: str) -> EngineUnavailableError:
    """One line saying what failed when vLLM could not load `model`."""
    text = str(exc)
    first_line = (text.strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, MemoryError) or _OUT_OF_MEMORY.search(text):
        return EngineOutOfMemoryError(f"not enough memory to load {model}: {first_line}")
    if unsupported := _UNSUPPORTED.search(text):
        return UnsupportedModelError(f"vLLM cannot run {model}: {unsupported[0]}")
    if isinstance(exc, FileNotFoundError) or _MISSING.search(text):
        return ModelNotFoundError(f"model {model} not found: {first_line}")
    if "Engine core initialization failed" in text:
        return ModelLoadError(
            f"vLLM's engine process failed to load {model} (its error is printed above)"
        )
    return ModelLoadError(f"vLLM could not load {model}: {first_line}")
