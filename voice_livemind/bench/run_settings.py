"""The LiveMind settings every benchmark run records: one builder for the text and spoken runs.

A results file stores them in every line and refuses to resume under other values, so a setting
that changes results belongs here, read from the session's own config (never re-read from the
command line, where a default could differ from what the session got).
"""

from __future__ import annotations

from ..livemind.config import SessionConfig


def session_settings(
    config: SessionConfig, model: str, answer_model: str, max_model_len: int
) -> dict[str, object]:
    """The fields `BenchSettings` and `SpokenBenchSettings` share, from the session config."""
    return {
        "format": config.prompt_format.value,
        "granularity": config.granularity.value,
        "min_segment_chars": config.min_segment_chars,
        "end_policy": config.end_policy.value,
        "max_inference_tokens": config.inference.max_tokens,
        "max_answer_tokens": config.answer.max_tokens,
        "answer_prefix": config.answer_prefix,
        "final_instruction": config.final_instruction,
        "model": model,
        "answer_model": answer_model,
        "repetition_penalty": config.answer.repetition_penalty,
        "free_actions": config.inference.regex is None,
        "max_model_len": max_model_len,
    }
