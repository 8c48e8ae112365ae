"""The unit that flows from audio sources to the recogniser: a short block of 16 kHz mono audio."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Whisper (and its Silero VAD) work at 16 kHz; converting once at the source means every later
# stage can assume it.
SAMPLE_RATE = 16000


def frame_length(frame_ms: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Samples in one frame of `frame_ms` milliseconds."""
    length = round(sample_rate * frame_ms / 1000)
    if length <= 0:
        raise ValueError(f"frame length must be positive, got {frame_ms} ms")
    return length


# eq=False: comparing two frames field by field would compare arrays, which numpy refuses.
@dataclass(frozen=True, eq=False)
class AudioFrame:
    """`samples`: float32 mono in [-1, 1] at SAMPLE_RATE; `t`: stream time (s) of the first one."""

    samples: np.ndarray
    t: float

    def __post_init__(self) -> None:
        if self.samples.dtype != np.float32 or self.samples.ndim != 1:
            raise ValueError(
                f"AudioFrame wants 1-D float32 samples, got {self.samples.dtype} "
                f"with shape {self.samples.shape}"
            )

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def end(self) -> float:
        """Stream time just after the last sample."""
        return self.t + self.duration


def resample(audio: np.ndarray, from_rate: int, to_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 `audio` at `to_rate`, band-limited (FFmpeg's swresample through PyAV, which
    faster-whisper already needs): a synthesiser's 22.05 kHz speech for the recogniser, whose
    features would alias with plain interpolation."""
    audio = np.asarray(audio, dtype=np.float32)
    if from_rate == to_rate or len(audio) == 0:
        return audio
    import av  # here, not at import: only resampling callers need it

    frame = av.AudioFrame.from_ndarray(audio[None, :], format="flt", layout="mono")
    frame.sample_rate = from_rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=to_rate)
    blocks = [*resampler.resample(frame), *resampler.resample(None)]  # None: flush the tail
    return np.concatenate([block.to_ndarray()[0] for block in blocks]).astype(np.float32)
