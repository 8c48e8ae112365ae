"""Audio sources: files and arrays as 16 kHz mono frames, paced in real time or not."""

from __future__ import annotations

import math
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from voice_livemind.audio import (
    SAMPLE_RATE,
    ArraySource,
    AudioFrame,
    AudioSourceError,
    FileSource,
)


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    """16-bit WAV; `samples` is (n,) or (n, channels) float in [-1, 1]."""
    frames = samples.reshape(len(samples), -1)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(frames.shape[1])
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((frames * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture
def stereo_wav(tmp_path: Path) -> Path:
    """1 s of a 440 Hz tone at 22.05 kHz, stereo (left 0.5, right 0.3 amplitude)."""
    t = np.arange(22050) / 22050
    tone = np.sin(2 * np.pi * 440 * t)
    return write_wav(tmp_path / "tone.wav", np.stack([0.5 * tone, 0.3 * tone], axis=1), 22050)


async def collect(source: ArraySource) -> list[AudioFrame]:
    return [frame async for frame in source]


async def test_file_source_resamples_stereo_to_16k_mono_frames(stereo_wav: Path) -> None:
    source = FileSource(stereo_wav, realtime=False, frame_ms=20)
    frames = await collect(source)
    total = sum(len(f.samples) for f in frames)
    assert abs(total - SAMPLE_RATE) <= SAMPLE_RATE // 100  # 1 s, give or take resampler edges
    assert len(frames) == math.ceil(total / 320) == source.frame_count
    assert all(len(f.samples) == 320 for f in frames[:-1])
    assert all(f.samples.dtype == np.float32 and f.samples.ndim == 1 for f in frames)
    assert [f.t for f in frames] == pytest.approx([i * 0.02 for i in range(len(frames))])
    assert frames[-1].end == pytest.approx(total / SAMPLE_RATE)
    peak = max(float(np.abs(f.samples).max()) for f in frames)
    assert 0.3 < peak < 0.5  # the channels were mixed down, not one of them dropped


async def test_realtime_replay_is_paced(stereo_wav: Path) -> None:
    started = time.monotonic()
    arrivals = [time.monotonic() - started async for _ in FileSource(stereo_wav, realtime=True)]
    assert 0.8 <= arrivals[-1] <= 2.0  # 1 s of audio takes about 1 s
    assert 0.3 <= arrivals[len(arrivals) // 2] <= 1.5  # ... and is spread over that second


async def test_fast_mode_is_quick() -> None:
    source = ArraySource(np.zeros(10 * SAMPLE_RATE, dtype=np.float32), realtime=False)
    started = time.monotonic()
    frames = await collect(source)
    assert time.monotonic() - started < 1.0
    assert len(frames) == 500


@pytest.mark.parametrize("name", ["missing.wav", "not_audio.wav", "a_directory"])
def test_bad_file_is_one_line_error(tmp_path: Path, name: str) -> None:
    (tmp_path / "not_audio.wav").write_text("hello, I am not audio\nsecond line\n")
    (tmp_path / "a_directory").mkdir()
    with pytest.raises(AudioSourceError) as caught:
        FileSource(tmp_path / name)
    message = str(caught.value)
    assert "\n" not in message and name in message


def test_array_source_pads_trailing_silence() -> None:
    speech = np.full(SAMPLE_RATE // 2, 0.25, dtype=np.float32)
    source = ArraySource(speech, realtime=False, frame_ms=20, pad_s=0.3)
    assert source.duration_s == pytest.approx(0.8)
    assert source.frame_count == 40
    assert np.all(source.samples[: len(speech)] == 0.25)
    assert not source.samples[len(speech) :].any()


async def test_array_source_frames_are_read_only_views() -> None:
    frames = await collect(ArraySource(np.ones(1000), realtime=False, frame_ms=30))
    assert [len(f.samples) for f in frames] == [480, 480, 40]
    with pytest.raises(ValueError):
        frames[0].samples[0] = 2.0  # frames are shared by every consumer


def test_array_source_rejects_stereo() -> None:
    with pytest.raises(ValueError, match="mono"):
        ArraySource(np.zeros((100, 2)))


def test_audio_frame_checks_its_samples() -> None:
    with pytest.raises(ValueError):
        AudioFrame(np.zeros(10, dtype=np.int16), 0.0)
    frame = AudioFrame(np.zeros(320, dtype=np.float32), 1.0)
    assert frame.duration == pytest.approx(0.02) and frame.end == pytest.approx(1.02)
