"""Speech for tests and benchmarks: texts read aloud by a named voice, plus silence and noise.

Two voices, both cached on disk by `SpeechCache` (a suite pays for each sentence once per
machine and voice):
- "piper" (the default): the neural en_US-joe-medium voice, realistic speech that Whisper hears
  almost as well as a person's. Needs the `piper` extra (in `dev`).
- "espeak": espeak-ng at 150 words a minute through pyttsx3: robotic, a harder test for the
  recogniser (tiny.en mishears its isolated letters, "B" -> "the").

Everything returned is 16 kHz mono float32 in [-1, 1], what the recogniser takes.
"""

from __future__ import annotations

import functools
import wave
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from .frames import SAMPLE_RATE
from .sinks import to_pcm16
from .speech_cache import SpeechCache, trim_silence

SampleVoice = Literal["piper", "espeak"]
VOICES: tuple[str, ...] = get_args(SampleVoice)
DEFAULT_VOICE: SampleVoice = "piper"
ESPEAK_VOICE = "gmw/en-us"
ESPEAK_RATE_WPM = 150  # conversational pace; espeak's 175 wpm default is hard for tiny.en

# Short spoken questions the latency benchmarks replay (benchmarks/load.py, voice_latency.py):
# ordinary sentences, no option letters.
BENCH_QUESTIONS = [
    "A farmer plants seeds in the spring. The plants grow tall during the summer. "
    "When does the farmer harvest the crop?",
    "Water boils at a lower temperature on a high mountain. The air up there is thinner. "
    "What is the reason for the lower boiling point?",
    "A shop sells apples for two dollars a kilo. Pears cost three dollars a kilo. "
    "How much do two kilos of apples and one kilo of pears cost?",
    "My sister is older than my brother. My brother is older than me. Who is the youngest?",
]

__all__ = [
    "BENCH_QUESTIONS",
    "DEFAULT_VOICE",
    "SAMPLE_RATE",
    "VOICES",
    "SampleVoice",
    "concat",
    "noise",
    "silence",
    "speech_cache",
    "synthesize",
    "trim_silence",
    "with_silence",
    "write_wav",
]


@functools.cache
def speech_cache(voice: SampleVoice = DEFAULT_VOICE) -> SpeechCache:
    """The cache reading texts in `voice` (its synthesiser is started once per process)."""
    from .tts import SpeechSynthesizer

    if voice == "piper":
        return SpeechCache(SpeechSynthesizer(backend="piper"))
    if voice == "espeak":
        return SpeechCache(SpeechSynthesizer(ESPEAK_RATE_WPM, ESPEAK_VOICE))
    raise ValueError(f"unknown test voice {voice!r}: choose one of {', '.join(VOICES)}")


def synthesize(
    text: str, path: str | Path | None = None, *, voice: SampleVoice = DEFAULT_VOICE
) -> np.ndarray:
    """`text` read aloud by `voice`, leading and trailing silence trimmed; `path`, when given,
    also receives it as a WAV file."""
    audio = speech_cache(voice).speech_blocking(text)
    if path is not None:
        write_wav(path, audio)
    return audio


def write_wav(path: str | Path, audio: np.ndarray) -> None:
    """Write 16 kHz mono float32 audio as a 16-bit PCM WAV."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(to_pcm16(audio))


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)


def noise(seconds: float, level: float = 0.05, seed: int = 0) -> np.ndarray:
    """White noise with standard deviation `level` (deterministic for a given seed)."""
    rng = np.random.default_rng(seed)
    samples = rng.normal(0.0, level, round(seconds * SAMPLE_RATE))
    return np.clip(samples, -1.0, 1.0).astype(np.float32)


def with_silence(audio: np.ndarray, before: float = 0.0, after: float = 0.0) -> np.ndarray:
    return np.concatenate([silence(before), audio.astype(np.float32), silence(after)])


def concat(*parts: np.ndarray) -> np.ndarray:
    return np.concatenate([p.astype(np.float32) for p in parts])
