"""voice-livemind: a voice assistant that thinks while you speak (LiveMind on vLLM).

The public API. Each name loads its module on first use, so `import voice_livemind` stays cheap
(the engines pull in vLLM, the pipeline faster-whisper).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "LiveMindSession": "livemind.session",
    "SessionConfig": "livemind.config",
    "Mode": "livemind.config",
    "VoicePipeline": "voice.pipeline",
    "ChatEngine": "llm.base",
    "VllmEngine": "llm.vllm_engine",
    "OpenAIEngine": "llm.openai_engine",
    "open_engine": "llm",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'voice_livemind' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
