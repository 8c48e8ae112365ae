"""Streaming speech recognition: frames in, committed words and utterance ends out.

`vad` gates speech, `decoder` runs Whisper on a buffer, `agreement` decides what is final,
`recognizer` holds the policy that ties them together; `confidence` sums up Whisper's word
probabilities; `events` is what comes out; `wer` scores
transcripts (`from voice_livemind.asr.wer import wer`: the module shares the function's name).
Names are imported lazily, so the pure parts (`agreement`, `wer`) need neither faster-whisper
nor onnxruntime.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LocalAgreement": "agreement",
    "Word": "agreement",
    "join_words": "agreement",
    "TranscriptConfidence": "confidence",
    "transcript_confidence": "confidence",
    "DecoderConfig": "decoder",
    "Hypothesis": "decoder",
    "ShortContextWhisperModel": "decoder",
    "WhisperDecoder": "decoder",
    "AsrDecoded": "events",
    "SpeechEnded": "events",
    "SpeechPaused": "events",
    "SpeechResumed": "events",
    "SpeechStarted": "events",
    "UtteranceEnded": "events",
    "WordsCommitted": "events",
    "WordsPartial": "events",
    "AsrModelNotFoundError": "models",
    "load_whisper": "models",
    "resolve_whisper_model": "models",
    "RecognizerConfig": "recognizer",
    "StreamingRecognizer": "recognizer",
    "create_recognizer": "recognizer",
    "DecodeScheduler": "scheduler",
    "RecognizerStream": "scheduler",
    "Urgency": "scheduler",
    "StreamingVad": "vad",
    "VadConfig": "vad",
    "VadTransition": "vad",
    "WordErrors": "wer",
    "word_errors": "wer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
