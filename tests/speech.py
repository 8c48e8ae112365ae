"""Synthesised test speech: 16 kHz mono float32 arrays from text, plus silence and noise.

Speech comes from pyttsx3 over espeak-ng. pyttsx3 keeps one engine per driver and is known to
hang on a second `runAndWait()` in the same process, so every synthesis runs in a fresh
subprocess (a hang becomes a timeout, not a stuck test run). Results are cached by a hash of the
text and voice settings, so a test suite pays for each sentence once per machine.

pyttsx3 2.99's espeak driver also loses long texts: `runAndWait()` returns before espeak has
written the file, and a process that exits then writes nothing (from about 35 words on, most
of the time). The child waits for the "finished-utterance" notification (then 70-word questions
synthesise reliably); longer texts are spoken in chunks of at most `_MAX_CHUNK_WORDS` words
(split at sentence ends, then at commas), each retried when its file is missing or too short.

Whisper tiny.en mishears espeak's isolated letters ("B" -> "the"): test with ordinary sentences.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
VOICE = "gmw/en-us"
RATE_WPM = 150  # conversational pace; espeak's 200 wpm default is hard for tiny.en
_MAX_CHUNK_WORDS = 80  # longer texts are spoken in pieces (see the module docstring)

# Short spoken questions the latency benchmarks replay (benchmarks/load.py, voice_latency.py):
# ordinary sentences, no option letters, which tiny.en hears reliably.
BENCH_QUESTIONS = [
    "A farmer plants seeds in the spring. The plants grow tall during the summer. "
    "When does the farmer harvest the crop?",
    "Water boils at a lower temperature on a high mountain. The air up there is thinner. "
    "What is the reason for the lower boiling point?",
    "A shop sells apples for two dollars a kilo. Pears cost three dollars a kilo. "
    "How much do two kilos of apples and one kilo of pears cost?",
    "My sister is older than my brother. My brother is older than me. Who is the youngest?",
]

# Runs in the child process: argv = text, wav path, voice, rate. pyttsx3's `runAndWait()` can
# return before espeak (asynchronous) has written the file, and its opening stop() can cancel
# what is still queued: wait for the "finished-utterance" notification, after letting queued
# property changes land (the same fixes as voice_livemind/audio/tts.py).
_SYNTH_SCRIPT = """
import sys, threading, time, wave
import pyttsx3
text, path, voice, rate = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
finished = threading.Event()
engine = pyttsx3.init()
engine.connect("finished-utterance", lambda name, completed: finished.set())
engine.setProperty("voice", voice)
engine.setProperty("rate", rate)
from pyttsx3.drivers import _espeak
_espeak.Synchronize()
engine.save_to_file(text, path)
engine.runAndWait()
if not finished.wait(60):
    sys.exit(2)
for _ in range(200):  # the file is written just before the notification; be sure it is whole
    try:
        with wave.open(path) as f:
            f.getnframes()
        break
    except Exception:
        time.sleep(0.01)
"""


def cache_dir() -> Path:
    root = os.environ.get("VOICE_LIVEMIND_TEST_SPEECH_CACHE")
    path = Path(root) if root else Path(tempfile.gettempdir()) / "voice-livemind-test-speech"
    path.mkdir(parents=True, exist_ok=True)
    return path


def synthesize(
    text: str, path: str | Path | None = None, *, voice: str = VOICE, rate: int = RATE_WPM
) -> np.ndarray:
    """Speak `text` with espeak-ng; return 16 kHz mono float32 in [-1, 1].

    The 22,050 Hz WAVs that pyttsx3 writes stay in the cache; `path`, when given, receives the
    returned 16 kHz audio as a WAV file.
    """
    audio = np.concatenate([load_wav(_chunk_wav(c, voice, rate)) for c in chunk_text(text)])
    if path is not None:
        write_wav(path, audio)
    return audio


def chunk_text(text: str, max_words: int = _MAX_CHUNK_WORDS) -> list[str]:
    """Split `text` into pieces of at most `max_words` words, at sentence ends where possible,
    then at commas, then anywhere; shorter texts stay whole (one natural-sounding utterance)."""
    pieces: list[str] = []
    for sentence in re.split(r"(?<=[.?!])\s+", text.strip()):
        if _n_words(sentence) <= max_words:
            pieces.append(sentence)
            continue
        for clause in re.split(r"(?<=[,;:])\s+", sentence):
            words = clause.split()
            pieces += [" ".join(words[i : i + max_words]) for i in range(0, len(words), max_words)]
    chunks: list[str] = []
    for piece in pieces:
        if chunks and _n_words(chunks[-1]) + _n_words(piece) <= max_words:
            chunks[-1] = f"{chunks[-1]} {piece}"
        else:
            chunks.append(piece)
    return chunks


def _n_words(text: str) -> int:
    return len(text.split())


def _chunk_wav(text: str, voice: str, rate: int) -> Path:
    key = hashlib.sha256(f"{voice}|{rate}|{text}".encode()).hexdigest()[:24]
    wav = cache_dir() / f"{key}.wav"
    for _attempt in range(4):  # the driver's cancel race still strikes now and then: retry
        if wav.is_file():
            return wav
        tmp = wav.with_suffix(f".{os.getpid()}.tmp.wav")
        subprocess.run(
            [sys.executable, "-c", _SYNTH_SCRIPT, text, str(tmp), voice, str(rate)],
            check=True,
            timeout=120,
            stdout=subprocess.DEVNULL,  # pyttsx3 prints "Audio saved to ..."
        )
        if _plausible(tmp, text):
            tmp.replace(wav)  # atomic: a concurrent test run never reads a half-written file
        else:
            tmp.unlink(missing_ok=True)
    if not wav.is_file():
        raise RuntimeError(f"pyttsx3 wrote no usable audio for {text!r}")
    return wav


def _plausible(path: Path, text: str) -> bool:
    """A complete WAV with at least 0.15 s per word (espeak speaks ~0.35 s per word at 165 wpm):
    a cancelled synthesis leaves no file, an empty one, or a truncated one."""
    try:
        with wave.open(str(path), "rb") as f:
            seconds = f.getnframes() / f.getframerate()
    except (OSError, EOFError, wave.Error):
        return False
    return seconds >= 0.15 * _n_words(text)


def write_wav(path: str | Path, audio: np.ndarray) -> None:
    """Write 16 kHz mono float32 audio as a 16-bit PCM WAV."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SAMPLE_RATE)
        f.writeframes(pcm.tobytes())


def load_wav(path: str | Path) -> np.ndarray:
    """Decode and resample any audio file to 16 kHz mono float32 (PyAV, via faster-whisper)."""
    from faster_whisper.audio import decode_audio

    return decode_audio(str(path), sampling_rate=SAMPLE_RATE).astype(np.float32)


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


def trim_silence(audio: np.ndarray, threshold_db: float = -40.0) -> np.ndarray:
    """Strip leading and trailing samples quieter than `threshold_db` (espeak pads its output)."""
    loud = np.flatnonzero(np.abs(audio) > 10 ** (threshold_db / 20))
    return audio[loud[0] : loud[-1] + 1] if len(loud) else audio[:0]
