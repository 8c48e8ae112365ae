"""Audio sinks: WAV files, the null sink, and the speaker's error when there is none."""

from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from voice_livemind.audio import AudioSinkError, NullSink, SpeakerSink, WavSink


def require_portaudio() -> None:
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError) as exc:  # OSError: the PortAudio library itself is missing
        pytest.skip(f"sounddevice/PortAudio unavailable: {exc}")


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return pcm.astype(np.float32) / 32767, wav.getframerate()


def test_wav_sink_writes_chunks_in_order_as_16_bit(tmp_path: Path) -> None:
    first = np.linspace(-0.5, 0.5, 2205, dtype=np.float32)
    second = np.full(1000, 2.0, dtype=np.float32)  # out of range: clipped, not wrapped
    with WavSink(tmp_path / "out" / "answer.wav") as sink:
        sink.write(first, 22050)
        sink.write(second, 22050)
    samples, rate = read_wav(tmp_path / "out" / "answer.wav")
    assert rate == 22050
    assert sink.seconds_written == pytest.approx(3205 / 22050)
    np.testing.assert_allclose(samples[:2205], first, atol=1 / 32767)
    assert np.all(samples[2205:] == 1.0)


def test_wav_sink_refuses_a_second_rate(tmp_path: Path) -> None:
    sink = WavSink(tmp_path / "a.wav")
    sink.write(np.zeros(10, dtype=np.float32), 22050)
    with pytest.raises(ValueError, match="22050"):
        sink.write(np.zeros(10, dtype=np.float32), 16000)
    sink.close()


def test_wav_sink_without_audio_leaves_a_valid_empty_file(tmp_path: Path) -> None:
    WavSink(tmp_path / "empty.wav").close()
    samples, _ = read_wav(tmp_path / "empty.wav")
    assert len(samples) == 0


def test_null_sink_counts_seconds() -> None:
    sink = NullSink()
    sink.write(np.zeros(11025, dtype=np.float32), 22050)
    assert sink.seconds_written == pytest.approx(0.5)


def test_speaker_sink_names_devices_when_it_cannot_open() -> None:
    require_portaudio()
    with pytest.raises(AudioSinkError) as caught:
        SpeakerSink(device=999)
    message = str(caught.value)
    assert "\n" not in message and "999" in message
    assert "output devices" in message  # either the list or "no audio output devices found"


def test_missing_sounddevice_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # makes `import sounddevice` fail
    with pytest.raises(AudioSinkError, match="pip install sounddevice"):
        SpeakerSink()
