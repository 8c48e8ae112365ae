"""Where sound goes: a WAV file, the speakers, or nowhere.

Sinks take whole chunks (one synthesised sentence at a time) at the producer's sample rate.
`write` may block until the audio is handed to the device, so async callers run it in a thread.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any, Protocol, Self

import numpy as np

from .devices import check_device, load_sounddevice
from .errors import AudioSinkError, one_line
from .frames import SAMPLE_RATE


class AudioSink(Protocol):
    def write(self, samples: np.ndarray, sample_rate: int) -> None: ...

    def close(self) -> None: ...


def _mono_float32(samples: np.ndarray) -> np.ndarray:
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"sinks take mono (1-D) samples, got shape {audio.shape}")
    return audio


def to_pcm16(samples: np.ndarray) -> bytes:
    """float32 in [-1, 1] to little-endian 16-bit PCM; clipped, since TTS can overshoot."""
    scaled = np.clip(_mono_float32(samples), -1.0, 1.0) * 32767.0
    return np.round(scaled).astype("<i2").tobytes()


class _ContextMixin:
    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class NullSink(_ContextMixin):
    """Discards audio but counts it (benchmarks without sound)."""

    def __init__(self) -> None:
        self.seconds_written = 0.0

    def write(self, samples: np.ndarray, sample_rate: int) -> None:
        self.seconds_written += len(_mono_float32(samples)) / sample_rate

    def close(self) -> None:
        pass


class WavSink(_ContextMixin):
    """Writes a 16-bit mono WAV. The rate is fixed by the first write (the TTS output rate)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.sample_rate: int | None = None
        self.seconds_written = 0.0
        self._file: wave.Wave_write | None = None
        self._closed = False

    def write(self, samples: np.ndarray, sample_rate: int) -> None:
        if self._closed:
            raise AudioSinkError(f"WAV sink {str(self.path)!r} is closed")
        if self._file is None:
            self._file = self._open(sample_rate)
        elif sample_rate != self.sample_rate:
            # One WAV has one rate; resampling here would hide a misconfigured producer.
            raise ValueError(
                f"WAV sink {str(self.path)!r} is at {self.sample_rate} Hz, got {sample_rate} Hz"
            )
        data = to_pcm16(samples)
        self._file.writeframes(data)
        self.seconds_written += len(data) / 2 / sample_rate

    def _open(self, sample_rate: int) -> wave.Wave_write:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            out = wave.open(str(self.path), "wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise AudioSinkError(f"cannot write {str(self.path)!r}: {one_line(exc)}") from exc
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        self.sample_rate = sample_rate
        return out

    def close(self) -> None:
        """Finish the file; a sink that got no audio still leaves a valid (empty) WAV."""
        if self._closed:
            return
        if self._file is None:
            self._file = self._open(SAMPLE_RATE)
        self._file.close()
        self._closed = True


class SpeakerSink(_ContextMixin):
    """Plays through PortAudio. `write` blocks until the chunk is queued in the device buffer,
    so it returns roughly when the chunk has finished playing (minus the output latency)."""

    def __init__(self, device: int | str | None = None) -> None:
        self._sd = load_sounddevice(AudioSinkError)
        check_device(self._sd, "output", device, AudioSinkError, dtype="float32")
        self.device = device
        self.seconds_written = 0.0
        self._stream: Any = None
        self._stream_rate: int | None = None  # the rate the open stream runs at

    def write(self, samples: np.ndarray, sample_rate: int) -> None:
        audio = _mono_float32(samples)
        if self._stream is None:
            self._open(sample_rate)
        if sample_rate != self._stream_rate:
            audio = _resample(audio, sample_rate, self._stream_rate)
        try:
            self._stream.write(audio.reshape(-1, 1))
        except Exception as exc:
            raise AudioSinkError(f"playback failed on {self.device!r}: {one_line(exc)}") from exc
        self.seconds_written += len(samples) / sample_rate

    def _open(self, sample_rate: int) -> None:
        # Some hardware refuses TTS rates such as 22,050 Hz: fall back to the device's own rate
        # and resample ourselves rather than fail the answer.
        default_rate = int(self._sd.query_devices(self.device, "output")["default_samplerate"])
        last_error: Exception | None = None
        for rate in dict.fromkeys((sample_rate, default_rate)):
            try:
                stream = self._sd.OutputStream(
                    samplerate=rate, device=self.device, channels=1, dtype="float32"
                )
                stream.start()
            except Exception as exc:
                last_error = exc
                continue
            self._stream, self._stream_rate = stream, rate
            return
        raise AudioSinkError(f"cannot open speaker {self.device!r}: {one_line(last_error or '')}")

    def close(self) -> None:
        """Let queued audio finish playing, then release the device."""
        if self._stream is not None:
            stream, self._stream = self._stream, None
            stream.stop()
            stream.close()


def _resample(audio: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Linear interpolation: good enough for speech playback, needs no extra dependency."""
    if from_rate == to_rate or len(audio) == 0:
        return audio
    length = round(len(audio) * to_rate / from_rate)
    positions = np.arange(length) * (from_rate / to_rate)
    return np.interp(positions, np.arange(len(audio)), audio).astype(np.float32)
