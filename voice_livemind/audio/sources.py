"""Where sound comes from: arrays, files and the microphone, as async streams of AudioFrames.

Every source yields 16 kHz mono float32 frames stamped with their stream time (seconds since
the first sample), so the recogniser never needs to know where the audio came from.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from .devices import check_device, load_sounddevice
from .errors import AudioSourceError, one_line
from .frames import SAMPLE_RATE, AudioFrame, frame_length


class AudioSource(Protocol):
    """Anything that can be iterated with `async for frame in source`."""

    def __aiter__(self) -> AsyncIterator[AudioFrame]: ...


class ArraySource:
    """Replays 16 kHz mono samples as frames, at real-time speed or as fast as possible.

    `pad_s` appends silence, so that end-of-utterance detection (which waits for a pause)
    can fire after the audio ends, as it would after a person stops talking.
    """

    def __init__(
        self,
        samples: np.ndarray,
        realtime: bool = True,
        frame_ms: float = 20,
        pad_s: float = 0.0,
    ) -> None:
        audio = np.asarray(samples, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(f"ArraySource wants mono (1-D) samples, got shape {audio.shape}")
        if pad_s < 0:
            raise ValueError(f"pad_s must be >= 0, got {pad_s}")
        padding = np.zeros(round(pad_s * SAMPLE_RATE), dtype=np.float32)
        self.samples = np.concatenate([audio, padding])
        # Frames are views of this buffer shared with every consumer: make them read-only.
        self.samples.flags.writeable = False
        self.realtime = realtime
        self.frame_len = frame_length(frame_ms)

    @property
    def duration_s(self) -> float:
        """Length of the stream, padding included."""
        return len(self.samples) / SAMPLE_RATE

    @property
    def frame_count(self) -> int:
        return math.ceil(len(self.samples) / self.frame_len)

    async def __aiter__(self) -> AsyncIterator[AudioFrame]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for index in range(self.frame_count):
            first = index * self.frame_len
            block = self.samples[first : first + self.frame_len]
            if self.realtime:
                # A microphone hands a frame over once its last sample is captured. Scheduling
                # against the start time (not sleeping per frame) keeps replay from drifting.
                due = start + (first + len(block)) / SAMPLE_RATE
                await asyncio.sleep(max(0.0, due - loop.time()))
            else:
                await asyncio.sleep(0)  # fast mode still lets other tasks run between frames
            yield AudioFrame(block, first / SAMPLE_RATE)


def decode_file(path: str | Path) -> np.ndarray:
    """Any audio file PyAV/FFmpeg reads (wav, flac, mp3, ogg, ...) as 16 kHz mono float32."""
    path = Path(path)
    if not path.is_file():
        reason = "is a directory" if path.is_dir() else "no such file"
        raise AudioSourceError(f"cannot read audio file {str(path)!r}: {reason}")
    try:
        # faster-whisper's decoder (PyAV, FFmpeg built in) also resamples and downmixes,
        # so no ffmpeg binary is needed. Imported here: it is only needed for files.
        from faster_whisper.audio import decode_audio

        samples = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except ImportError as exc:
        raise AudioSourceError(
            f"cannot decode {str(path)!r}: faster-whisper is not installed ({one_line(exc)})"
        ) from exc
    except Exception as exc:  # PyAV raises a zoo of FFmpegError subclasses
        raise AudioSourceError(f"cannot decode audio file {str(path)!r}: {one_line(exc)}") from exc
    if samples.size == 0:
        raise AudioSourceError(f"audio file {str(path)!r} contains no audio")
    return samples.astype(np.float32, copy=False)


class FileSource(ArraySource):
    """An audio file replayed as a stream; decoding happens here, so a bad path fails early."""

    def __init__(
        self,
        path: str | Path,
        realtime: bool = True,
        frame_ms: float = 20,
        pad_s: float = 0.0,
    ) -> None:
        self.path = Path(path)
        super().__init__(decode_file(self.path), realtime=realtime, frame_ms=frame_ms, pad_s=pad_s)


class MicrophoneSource:
    """Live capture through PortAudio (sounddevice) at 16 kHz mono.

    PortAudio calls back on its own thread; frames cross to asyncio with
    `loop.call_soon_threadsafe` into a bounded queue. If the consumer stalls, the oldest frames
    are dropped (counted in `dropped`): late audio is worth less than current audio to a live
    assistant, and an unbounded queue would grow without limit.

    Frame times count captured samples (dropped frames included), so they stay on the audio
    clock. The device is opened per iteration and closed when the iteration ends: call `stop()`,
    or break out inside `contextlib.aclosing(...)` to close it at once. Only 16 kHz-capable
    devices work (ALSA "default"/PulseAudio resample; a raw `hw:` device may refuse).
    """

    def __init__(
        self, device: int | str | None = None, frame_ms: float = 20, max_queued_frames: int = 250
    ) -> None:
        self._sd = load_sounddevice(AudioSourceError)
        # int16 is what microphones deliver, and what the fake ALSA device used in tests needs.
        check_device(
            self._sd, "input", device, AudioSourceError, samplerate=SAMPLE_RATE, dtype="int16"
        )
        self.device = device
        self.frame_len = frame_length(frame_ms)
        self.max_queued_frames = max_queued_frames
        self.dropped = 0  # frames thrown away because the consumer fell behind
        self.overflows = 0  # PortAudio reported lost input (the callback itself was late)
        self._stopping = False
        self._queue: asyncio.Queue[AudioFrame | None] | None = None

    def stop(self) -> None:
        """End the iteration after the frames already queued; later audio is ignored.
        Call from the event loop thread."""
        self._stopping = True
        if self._queue is not None:
            self._enqueue(self._queue, None)

    async def __aiter__(self) -> AsyncIterator[AudioFrame]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[AudioFrame | None] = asyncio.Queue(self.max_queued_frames)
        self._queue, self._stopping = queue, False
        try:
            stream = self._sd.InputStream(
                samplerate=SAMPLE_RATE,
                blocksize=self.frame_len,
                device=self.device,
                channels=1,
                dtype="int16",
                callback=self._make_callback(loop, queue),
                # PortAudio ends the stream on its own when the device goes away: wake the reader.
                finished_callback=lambda: self._post(loop, queue, None),
            )
        except Exception as exc:
            raise AudioSourceError(
                f"cannot open microphone {self.device!r}: {one_line(exc)}"
            ) from exc
        try:
            with stream:
                while (frame := await queue.get()) is not None:
                    yield frame
        finally:
            self._queue = None
        if not self._stopping:
            raise AudioSourceError(f"microphone {self.device!r} stopped delivering audio")

    def _make_callback(
        self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[AudioFrame | None]
    ) -> Callable[[np.ndarray, int, object, object], None]:
        captured = 0  # samples since the stream started: the stream clock, dropped frames included

        def callback(indata: np.ndarray, frames: int, time_info: object, status: object) -> None:
            nonlocal captured
            if status:
                self.overflows += 1
            # Copy: PortAudio reuses `indata` for the next block.
            samples = indata[:, 0].astype(np.float32) / 32768.0
            frame = AudioFrame(samples, captured / SAMPLE_RATE)
            captured += frames
            self._post(loop, queue, frame)

        return callback

    def _post(
        self,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[AudioFrame | None],
        item: AudioFrame | None,
    ) -> None:
        """Hand `item` from PortAudio's thread to the event loop."""
        with contextlib.suppress(RuntimeError):  # the loop closed while the stream shut down
            loop.call_soon_threadsafe(self._enqueue, queue, item)

    def _enqueue(self, queue: asyncio.Queue[AudioFrame | None], item: AudioFrame | None) -> None:
        # Runs on the event loop thread, so the check-then-act below cannot race.
        if self._stopping and item is not None:
            return  # keep the end-of-stream marker from being pushed out by newer frames
        if queue.full():
            queue.get_nowait()
            self.dropped += 1
        queue.put_nowait(item)
