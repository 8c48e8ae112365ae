"""A streaming voice activity gate: Silero VAD, as bundled (ONNX) inside faster-whisper.

faster-whisper runs Silero over a whole file at once; its ONNX model takes a batch of 512-sample
windows and carries the recurrent state (h, c) from one window to the next, so feeding it a few
windows at a time, carrying h, c and the 64-sample context ourselves, gives the same
probabilities as the whole-file call. No download, no torch; about 4 ms per second of audio.

Decisions follow Silero's own hysteresis: speech starts when the probability reaches
`threshold` and stays above `neg_threshold` for `min_speech_s` (clicks and noise bursts do not
start an utterance); it ends after `min_silence_s` below `neg_threshold`.

Late in a pause, a window between the two thresholds may be the soft onset of resumed speech
(the onsets `start_pad_s` allows for): it is not counted as silence, and the end is decided on
a silent window only. Speech resumes when a window reaches `threshold`; sound that stays between
the thresholds for `min_speech_s` (the time a start has to confirm itself) was not speech after
all and counts as silence.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

SAMPLE_RATE = 16_000
_WINDOW = 512  # samples per Silero window at 16 kHz (32 ms)
_CONTEXT = 64  # samples of the previous window Silero sees before each window
_HISTORY = 1_000  # windows of probabilities kept for `silent_gap()` (32 s)


@dataclass(frozen=True)
class VadConfig:
    threshold: float = 0.5  # speech probability that starts (or resumes) speech
    neg_threshold: float | None = None  # below this is silence; default threshold - 0.15
    min_speech_s: float = 0.25  # shorter bursts never start an utterance
    min_silence_s: float = 0.6  # this much silence ends an utterance
    start_pad_s: float = 0.2  # reported speech start is moved this much earlier (onsets are soft)

    @property
    def silence_threshold(self) -> float:
        return (
            self.neg_threshold
            if self.neg_threshold is not None
            else max(self.threshold - 0.15, 0.01)
        )


@dataclass(frozen=True)
class VadTransition:
    """Speech started or ended at stream time `t`; decided once `decided_t` had been heard."""

    kind: Literal["start", "end"]
    t: float
    decided_t: float


class StreamingVad:
    """Feed 16 kHz mono float32 frames of any size; get speech start / end transitions."""

    def __init__(self, config: VadConfig | None = None) -> None:
        from faster_whisper.vad import get_vad_model

        self.config = config or VadConfig()
        self._session = get_vad_model().session  # shared, cached by faster-whisper
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)  # samples short of a whole window
        self._windows = 0  # windows processed so far
        self.in_speech = False
        self._candidate_start: float | None = None  # loud enough, not yet long enough
        self._silence_start: float | None = None  # in speech: where the current silence began
        self._silent_windows = 0  # in a pause: silence counted so far (see the module docstring)
        self._unconfirmed_start: float | None = None  # in a pause: where unconfirmed sound began
        self.last_voiced_t = 0.0  # end of the last window at or above `threshold`
        self._history: deque[float] = deque(maxlen=_HISTORY)  # recent speech probabilities

    @property
    def processed_t(self) -> float:
        """Stream time up to which audio has been classified."""
        return self._windows * _WINDOW / SAMPLE_RATE

    @property
    def trailing_silence_s(self) -> float:
        """In speech: how long the current pause has lasted so far (0 while voiced)."""
        if not self.in_speech or self._silence_start is None:
            return 0.0
        return self.processed_t - self._silence_start

    @property
    def silence_start_t(self) -> float:
        """In speech: where the current pause began (`processed_t` while voiced)."""
        return self.processed_t - self.trailing_silence_s

    def feed(self, frames: np.ndarray) -> list[VadTransition]:
        audio = np.concatenate([self._pending, np.asarray(frames, dtype=np.float32).ravel()])
        whole = len(audio) // _WINDOW * _WINDOW
        self._pending = audio[whole:]
        if whole == 0:
            return []
        transitions: list[VadTransition] = []
        for p in self._probabilities(audio[:whole].reshape(-1, _WINDOW)):
            transitions.extend(self._step(float(p)))
        return transitions

    def silent_gap(self, start_t: float, end_t: float) -> float | None:
        """The middle of the least speech-like window between two stream times (the latest one
        among equals) when it is silence, below `silence_threshold`: a gap between words, where
        a cut clips nothing. None when there is no such window, or none is remembered."""
        first = self._windows - len(self._history)  # index of the oldest remembered window
        lo = max(first, int(np.ceil(start_t * SAMPLE_RATE / _WINDOW)))
        hi = min(self._windows, int(end_t * SAMPLE_RATE / _WINDOW))
        if hi <= lo:
            return None
        probs = np.asarray(self._history)[lo - first : hi - first]
        i = len(probs) - 1 - int(np.argmin(probs[::-1]))
        if probs[i] >= self.config.silence_threshold:
            return None
        return (lo + i + 0.5) * _WINDOW / SAMPLE_RATE

    def flush(self) -> list[VadTransition]:
        """End of stream: close an open utterance at the last voiced time."""
        self._pending = np.zeros(0, dtype=np.float32)
        if not self.in_speech:
            return []
        self.in_speech = False
        end = self._silence_start if self._silence_start is not None else self.processed_t
        self._silence_start, self._silent_windows, self._unconfirmed_start = None, 0, None
        return [VadTransition("end", end, self.processed_t)]

    def end_pause(self) -> list[VadTransition]:
        """The caller decided the current pause ends the speech (an end-of-turn decision that
        comes before `min_silence_s`): end it where the pause began. Nothing outside a pause."""
        if not self.in_speech or self._silence_start is None:
            return []
        end = self._silence_start
        self.in_speech = False
        self._silence_start, self._silent_windows, self._unconfirmed_start = None, 0, None
        return [VadTransition("end", end, self.processed_t)]

    def _probabilities(self, windows: np.ndarray) -> np.ndarray:
        contexts = np.concatenate([self._context[None], windows[:-1, -_CONTEXT:]])
        batch = np.concatenate([contexts, windows], axis=1)
        out, self._h, self._c = self._session.run(
            None, {"input": batch, "h": self._h, "c": self._c}
        )
        self._context = windows[-1, -_CONTEXT:].copy()
        return np.asarray(out).reshape(-1)

    def _step(self, p: float) -> list[VadTransition]:
        cfg = self.config
        start_t = self.processed_t
        self._windows += 1
        end_t = self.processed_t
        self._history.append(p)
        voiced, silent = p >= cfg.threshold, p < cfg.silence_threshold
        if voiced:
            self.last_voiced_t = end_t
        if not self.in_speech:
            if silent:
                self._candidate_start = None
            elif voiced and self._candidate_start is None:
                self._candidate_start = start_t
            if self._candidate_start is not None and end_t - self._candidate_start >= (
                cfg.min_speech_s
            ):
                self.in_speech, self._silence_start = True, None
                onset = max(0.0, self._candidate_start - cfg.start_pad_s)
                self._candidate_start = None
                return [VadTransition("start", onset, end_t)]
            return []
        if voiced:
            self._silence_start, self._silent_windows, self._unconfirmed_start = None, 0, None
        elif silent:
            if self._silence_start is None:
                self._silence_start = start_t
            self._silent_windows += 1
            self._unconfirmed_start = None  # a breath or click, not counted
        elif self._silence_start is not None:
            if self._unconfirmed_start is None:
                self._unconfirmed_start = start_t
            if end_t - self._unconfirmed_start >= cfg.min_speech_s:  # never confirmed: silence
                self._silent_windows += round(
                    (end_t - self._unconfirmed_start) * SAMPLE_RATE / _WINDOW
                )
                self._unconfirmed_start = None
        silent_s = self._silent_windows * _WINDOW / SAMPLE_RATE
        if self._silence_start is None or self._unconfirmed_start is not None:
            return []
        if silent_s < cfg.min_silence_s:
            return []
        self.in_speech = False
        end = self._silence_start
        self._silence_start, self._silent_windows = None, 0
        return [VadTransition("end", end, end_t)]
