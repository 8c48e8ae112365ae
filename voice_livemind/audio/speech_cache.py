"""Spoken versions of texts, synthesised once and kept on disk by a hash of what makes them.

The spoken benchmark reads every question aloud with the package's own TTS. Synthesis is cheap
but not free and pyttsx3 is not perfectly reliable, so each text's audio is cached under
`<cache dir>/speech/<key>.wav`, the key a hash of the text, the voice, the rate, the backend
and its version, and `SPEECH_FORMAT` (bumped when the way texts are turned into speech changes).
A file that cannot be read, or is too short for its text (a synthesis cut short), is made again.

Long texts are spoken in pieces of at most `MAX_PIECE_WORDS` words (sentences, then clauses):
pyttsx3's espeak driver drops long texts now and then. Each piece's leading and trailing
silence is trimmed and the pieces are joined with `PIECE_GAP_S` of silence, a natural pause
between sentences that stays well under the 0.6 s that ends an utterance.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import wave
from pathlib import Path
from typing import Protocol

import numpy as np

from ..cache import cache_dir
from .errors import AudioSourceError, TtsError
from .frames import SAMPLE_RATE
from .sentences import split_sentences
from .sinks import to_pcm16

SPEECH_FORMAT = 1
MAX_PIECE_WORDS = 20
PIECE_GAP_S = 0.3
_MIN_S_PER_WORD = 0.15  # espeak speaks ~0.4 s a word at 150 wpm; less means a cut synthesis
_ATTEMPTS = 3


class NamedSynthesizer(Protocol):
    """What the cache needs: `SpeechSynthesizer`, or a fake in tests."""

    @property
    def backend(self) -> str: ...

    async def synthesize(self, text: str) -> tuple[np.ndarray, int]: ...


def speech_pieces(text: str, max_words: int = MAX_PIECE_WORDS) -> list[str]:
    """`text` cut into pieces pyttsx3 speaks reliably: sentences, then clauses, then words."""
    pieces: list[str] = []
    for sentence in split_sentences(text):
        clauses = re.split(r"(?<=[,;:])\s+", sentence)
        current: list[str] = []
        for word in (w for clause in clauses for w in [*clause.split(), ""]):
            if word == "":  # a clause ended: cut here if the piece is already long
                if len(current) >= max_words // 2:
                    pieces.append(" ".join(current))
                    current = []
                continue
            current.append(word)
            if len(current) >= max_words:
                pieces.append(" ".join(current))
                current = []
        if current:
            pieces.append(" ".join(current))
    return pieces


def trim_silence(audio: np.ndarray, threshold_db: float = -40.0) -> np.ndarray:
    """Strip leading and trailing samples quieter than `threshold_db` (espeak pads its output)."""
    loud = np.flatnonzero(np.abs(audio) > 10 ** (threshold_db / 20))
    return audio[loud[0] : loud[-1] + 1] if len(loud) else audio[:0]


class SpeechCache:
    """`await cache.speech(text)` -> 16 kHz mono float32, synthesised at most once per machine."""

    def __init__(
        self, synthesizer: NamedSynthesizer, voice: str, rate: int, root: Path | None = None
    ) -> None:
        self.synthesizer = synthesizer
        self.voice, self.rate = voice, rate
        self.root = (root or cache_dir() / "speech").expanduser()
        self.hits = self.misses = 0

    def key(self, text: str) -> str:
        backend = self.synthesizer.backend
        try:
            version = importlib.metadata.version(backend)
        except importlib.metadata.PackageNotFoundError:
            version = "?"
        made_by = [SPEECH_FORMAT, backend, version, self.voice, self.rate, text]
        return hashlib.sha256(json.dumps(made_by).encode()).hexdigest()[:32]

    def path(self, text: str) -> Path:
        return self.root / f"{self.key(text)}.wav"

    async def speech(self, text: str) -> np.ndarray:
        path = self.path(text)
        cached = _read_cached(path, text)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        audio, rate = await self._synthesize(text)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        _write_wav(tmp, audio, rate)
        tmp.replace(path)  # atomic: another run never reads half a file
        samples = _read_cached(path, text)
        if samples is None:
            raise TtsError(f"speech for {text[:40]!r} could not be read back from {path}")
        return samples

    async def _synthesize(self, text: str) -> tuple[np.ndarray, int]:
        parts: list[np.ndarray] = []
        rate = 0
        for piece in speech_pieces(text):
            for _ in range(_ATTEMPTS):  # the espeak driver's cancel race strikes now and then
                samples, rate = await self.synthesizer.synthesize(piece)
                samples = trim_silence(samples)
                if len(samples) / rate >= _MIN_S_PER_WORD * len(piece.split()):
                    break
            else:
                raise TtsError(f"no usable speech for {piece[:40]!r} after {_ATTEMPTS} attempts")
            if parts:
                parts.append(np.zeros(round(PIECE_GAP_S * rate), dtype=np.float32))
            parts.append(samples.astype(np.float32))
        if not parts:
            raise TtsError(f"nothing to say in {text[:40]!r}")
        return np.concatenate(parts), rate


def _write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(to_pcm16(audio))


def _read_cached(path: Path, text: str) -> np.ndarray | None:
    """The cached audio at 16 kHz, or None when missing, unreadable or implausibly short."""
    from .sources import decode_file

    if not path.is_file():
        return None
    try:
        with wave.open(str(path), "rb") as wav:
            wav.getnframes()
        samples = decode_file(path)
    except (OSError, EOFError, wave.Error, AudioSourceError):
        return None
    if len(samples) / SAMPLE_RATE < _MIN_S_PER_WORD * len(text.split()):
        return None
    return samples
