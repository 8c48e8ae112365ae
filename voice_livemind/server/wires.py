"""The two wire formats a client may speak on `/ws`, chosen when it connects.

- `json` (the default, the playground's): the protocol of `protocol.py`. Every session event as
  JSON, answer audio as base64 in `tts_audio` messages.
- `pcm`: the generic voice-agent wire that harnesses such as `voicebench` speak (its `websocket`
  adapter). Binary frames both ways: the user's audio in, the answer's audio out, both 16-bit
  little-endian mono PCM at 16 kHz; and three kinds of JSON text message out:
  `{"type": "clear"}` when the client must drop the answer audio it has not played yet
  (barge-in), `{"type": "transcript", "role": "user", "text": ..., "final": true}` per user
  utterance (and `"role": "agent"` per answer, or per request to repeat), and `{"type": "error",
  ...}` as on `json`.
  No other event is sent: such clients play audio, they do not read LiveMind's events.

A client picks `pcm` with the query parameter (`/ws?wire=pcm`: no start message needed, the
session starts with the first audio frame, in the server's default mode) or with a `"wire":
"pcm"` field in its `start` message (which may also set `mode` and `speech`; a `sample_rate`
other than 16 kHz is refused, and on `?wire=pcm` that closes the connection).
"""

from __future__ import annotations

import json
from typing import Protocol

import numpy as np

from ..asr.events import UtteranceEnded
from ..audio.events import SpeechInterrupted
from ..audio.frames import SAMPLE_RATE
from ..audio.sinks import to_pcm16
from ..events import AnswerDone, ErrorEvent, Event
from ..voice.repeat import RepeatRequested
from .protocol import ProtocolError, audio_message, event_message

WIRES = ("json", "pcm")


class Wire(Protocol):
    """How one connection's server -> client messages are encoded."""

    name: str

    def audio(self, samples: np.ndarray, sample_rate: int) -> str | bytes:
        """One synthesised sentence of the answer."""
        ...

    def event(self, event: Event) -> str | None:
        """A session event as a text message, or None when this wire does not carry it."""
        ...


class JsonWire:
    name = "json"

    def audio(self, samples: np.ndarray, sample_rate: int) -> str:
        return audio_message(samples, sample_rate)

    def event(self, event: Event) -> str | None:
        return event_message(event)


class PcmWire:
    """voicebench's generic WebSocket wire: answer audio as binary PCM16 at `sample_rate`."""

    name = "pcm"

    def __init__(self, sample_rate: int = SAMPLE_RATE) -> None:
        self.sample_rate = sample_rate

    def audio(self, samples: np.ndarray, sample_rate: int) -> bytes:
        return to_pcm16(resample(samples, sample_rate, self.sample_rate))

    def event(self, event: Event) -> str | None:
        if isinstance(event, SpeechInterrupted):
            return json.dumps({"type": "clear"})
        if isinstance(event, UtteranceEnded):
            return _transcript("user", event.text)
        if isinstance(event, AnswerDone) and event.text.strip():
            return _transcript("agent", event.text)
        if isinstance(event, RepeatRequested):  # said in place of an answer
            return _transcript("agent", event.line)
        if isinstance(event, ErrorEvent):
            return json.dumps({"type": "error", "message": event.message})
        return None


def select_wire(name: str | None) -> Wire:
    """The wire called `name` (None: the default, `json`)."""
    if name is None or name == "json":
        return JsonWire()
    if name == "pcm":
        return PcmWire()
    raise ProtocolError("bad_message", f"wire {name!r} is not one of {', '.join(WIRES)}")


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Mono float32 audio at another rate, through FFmpeg's resampler (low-pass filtered: the
    TTS's 22,050 Hz speech has energy above 8 kHz that plain interpolation would fold down)."""
    import av  # FFmpeg's bindings; faster-whisper depends on them

    samples = np.ascontiguousarray(samples, dtype=np.float32).ravel()
    if from_rate == to_rate or len(samples) == 0:
        return samples
    resampler = av.AudioResampler(format="flt", layout="mono", rate=to_rate)
    frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
    frame.sample_rate = from_rate
    frames = resampler.resample(frame) + resampler.resample(None)  # None: flush the filter
    return np.concatenate([f.to_ndarray().ravel() for f in frames]).astype(np.float32)


def _transcript(role: str, text: str) -> str:
    message = {"type": "transcript", "role": role, "text": text.strip(), "final": True}
    return json.dumps(message, ensure_ascii=False)
