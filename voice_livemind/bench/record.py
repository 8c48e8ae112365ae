"""One benchmark result: a question's event stream turned into the per-question metrics.

Metrics come from the events only (the latency log), never from counters kept elsewhere, so a
result can always be recomputed from a saved log. Times in the timeline are virtual seconds
since input started (the paper's clock) or wall seconds (real-time mode).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..events import (
    AnswerDelta,
    AnswerDone,
    AnswerFirstToken,
    AnswerStarted,
    Event,
    InferenceAborted,
    InferenceDone,
    InferenceStarted,
    InputEnded,
    SegmentCommitted,
)
from .datasets import Question
from .scoring import extract_answer, score_answer

_TIMELINE_TYPES = (
    SegmentCommitted,
    InferenceStarted,
    InferenceDone,
    InferenceAborted,
    InputEnded,
    AnswerStarted,
    AnswerFirstToken,
    AnswerDone,
)


def _first(events: Sequence[Event], kind: type) -> Any:
    return next((e for e in events if isinstance(e, kind)), None)


def _model_time(events: Sequence[Event]) -> float:
    """Seconds the model spent on this question: every call from start to end or abort."""
    started: dict[str, float] = {}
    total = 0.0
    for e in events:
        if isinstance(e, InferenceStarted | AnswerStarted):
            started[e.call_id] = e.t
        elif isinstance(e, InferenceDone | InferenceAborted | AnswerDone) and e.call_id in started:
            total += e.t - started.pop(e.call_id)
    return total


def _answer_letter_time(events: Sequence[Event], letters: Sequence[str], final: str | None):
    """When the letter the answer ends up stating first appeared in the stream."""
    if final is None:
        return None
    text = ""
    for e in events:
        if isinstance(e, AnswerDelta):
            text += e.text
            if extract_answer(text, letters) == final:
                return e.t
    return None


def build_record(
    question: Question,
    mode: str,
    run: dict[str, Any],
    events: Sequence[Event],
    to_virtual: Callable[[float], float],
    input_started_t: float,
    error: str | None = None,
) -> dict[str, Any]:
    """The result line for one question (see README, "Benchmark results")."""
    ended = _first(events, InputEnded)
    done = _first(events, AnswerDone)
    answer_text = done.text if done else ""
    score = score_answer(answer_text, question)
    end_t = ended.t if ended else None

    def since_end(event: Event | None) -> float | None:
        if event is None or end_t is None or error:
            return None
        return round(event.t - end_t, 4)

    actions = [e for e in events if isinstance(e, InferenceDone)]
    letter_t = _answer_letter_time(events, question.letters, score.predicted)
    calls = [*actions, *([done] if done else [])]
    virtual = {e: round(to_virtual(e.t) - to_virtual(input_started_t), 4) for e in events}
    return {
        "run": {**run, "mode": mode},
        "id": question.id,
        "category": question.category,
        "mode": mode,
        "answer": question.answer,
        "predicted": score.predicted,
        "correct": score.correct,
        "parsed": score.parsed,
        "latency_s": since_end(done),
        "ttft_s": since_end(_first(events, AnswerFirstToken)),
        "answer_letter_s": None
        if letter_t is None or end_t is None
        else round(letter_t - end_t, 4),
        "overhead_s": since_end(_first(events, AnswerStarted)),
        "total_model_time_s": round(_model_time(events), 4),
        "tokens_before_end": sum(
            e.tokens.generated_tokens for e in actions if end_t is None or e.t <= end_t
        ),
        "tokens_after_end": sum(
            e.tokens.generated_tokens for e in calls if end_t is not None and e.t > end_t
        ),
        "prompt_tokens": sum(e.tokens.prompt_tokens for e in calls),
        "cached_prompt_tokens": sum(e.tokens.cached_prompt_tokens or 0 for e in calls),
        "inferences": sum(1 for e in actions if e.action == "inference"),
        "valid_actions": sum(1 for e in actions if e.valid),
        "actions": len(actions),
        "aborted": sum(1 for e in events if isinstance(e, InferenceAborted)),
        "input_chars": len(ended.text) if ended else None,
        "input_s": virtual[ended] if ended else None,
        "timeline": [
            {
                "type": e.type,
                "t": virtual[e],
                **({"call_id": e.call_id} if hasattr(e, "call_id") else {}),
            }
            for e in events
            if isinstance(e, _TIMELINE_TYPES)
        ],
        # The reply's own finish: "length" when it hit its token limit.
        "finish_reason": done.finish_reason if done else None,
        "letter_extracted": done.letter_extracted if done else False,
        "answer_text": answer_text,
        "inference_texts": [e.text for e in actions if e.action == "inference"],
        "error": error,
    }
