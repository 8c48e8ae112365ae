"""LLM engines: one narrow async interface (`ChatEngine`), several ways to reach a model."""

from __future__ import annotations

from .base import (
    ChatEngine,
    Chunk,
    EngineError,
    EngineOutOfMemoryError,
    EngineTimeoutError,
    EngineUnavailableError,
    Message,
    ModelLoadError,
    PromptTooLongError,
    SamplingSettings,
    UnsupportedModelError,
    Usage,
    complete,
)
from .models import DEFAULT_MODEL, OFFLINE_MODELS, ModelNotFoundError, resolve_model

__all__ = [
    "DEFAULT_MODEL",
    "OFFLINE_MODELS",
    "ChatEngine",
    "Chunk",
    "EngineError",
    "EngineOutOfMemoryError",
    "EngineTimeoutError",
    "EngineUnavailableError",
    "Message",
    "ModelLoadError",
    "ModelNotFoundError",
    "PromptTooLongError",
    "SamplingSettings",
    "UnsupportedModelError",
    "Usage",
    "complete",
    "open_engine",
    "resolve_model",
]


async def open_engine(
    model: str | None = None,
    *,
    llm_url: str | None = None,
    api_key: str = "EMPTY",
    max_model_len: int = 2048,
    timeout_s: float = 60.0,
) -> ChatEngine:
    """An OpenAI-compatible server when `llm_url` is given, else vLLM in this process."""
    if llm_url:
        from .openai_engine import OpenAIEngine

        return await OpenAIEngine.start(llm_url, model, api_key=api_key, timeout_s=timeout_s)
    from .vllm_engine import VllmEngine

    return await VllmEngine.start(model, max_model_len=max_model_len)
