"""The WebSocket protocol: client messages parsed into typed records, server messages as JSON.

Pure functions, no I/O. A message that cannot be understood raises `ProtocolError` with a
machine-readable `code` and a one-line message; the connection reports it and goes on.

Client -> server (JSON text frames, each with a `type`):
    {"type": "start", "mode": "livemind"|"baseline", "sample_rate": 16000, "speech": true}
        (optional "wire": "json"|"pcm": see wires.py)
    {"type": "text", "text": "...", "final": false}    typed input, streamed as typed
    {"type": "text", "text": "...", "revise": true}     an edit: the turn's whole input so far
    {"type": "end"}                                     typed input is complete: answer it
    {"type": "mode", "mode": "baseline"}                switch mode (between turns)
    binary frames: 16-bit little-endian mono PCM at the declared rate (16 kHz only)

Server -> client: the pipeline's events as JSON (`Event.to_dict()`: `type`, `t`, `turn`, ...),
plus `ready`, `tts_audio` (base64 PCM16 of one spoken sentence) and `error` with `code`.
An utterance too uncertain to answer gets `repeat_requested` (`text`, its `confidence`, the
`threshold`, and the `line` the assistant says instead) in place of `input_ended` and the answer.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..audio.frames import SAMPLE_RATE
from ..audio.sinks import to_pcm16
from ..events import Event
from ..livemind.config import Mode


class ProtocolError(ValueError):
    """A client message the server cannot take; `code` names the kind, str() explains."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Start:
    mode: Mode = Mode.LIVEMIND
    sample_rate: int = SAMPLE_RATE
    speech: bool = True  # speak answers (tts_audio messages)
    wire: str | None = None  # the wire format (wires.py); None: the connection's


@dataclass(frozen=True)
class TextInput:
    text: str
    final: bool = False
    revise: bool = False  # `text` replaces the turn's input (an edit) instead of extending it


@dataclass(frozen=True)
class EndInput:
    pass


@dataclass(frozen=True)
class SetMode:
    mode: Mode


ClientMessage = Start | TextInput | EndInput | SetMode


def parse_message(raw: str, max_text_chars: int) -> ClientMessage:
    """One JSON text frame from the client."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ProtocolError("bad_json", f"message is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError("bad_message", 'a message is a JSON object with a string "type"')
    kind = data["type"]
    if kind == "start":
        rate = _field(data, "sample_rate", int, SAMPLE_RATE)
        if rate != SAMPLE_RATE:
            raise ProtocolError(
                "wrong_rate",
                f"sample_rate {rate} is not supported: send 16-bit mono PCM at {SAMPLE_RATE} Hz",
            )
        wire = _field(data, "wire", str, None) if "wire" in data else None
        return Start(_mode(data, Mode.LIVEMIND), rate, _field(data, "speech", bool, True), wire)
    if kind == "text":
        text = _field(data, "text", str, None)
        if len(text) > max_text_chars:
            raise ProtocolError(
                "too_large", f"text of {len(text)} characters; at most {max_text_chars} a message"
            )
        final, revise = _field(data, "final", bool, False), _field(data, "revise", bool, False)
        return TextInput(text, final, revise)
    if kind == "end":
        return EndInput()
    if kind == "mode":
        return SetMode(_mode(data, None))
    raise ProtocolError(
        "unknown_type", f"unknown message type {kind!r}: expected start, text, end or mode"
    )


def _field(data: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    value = data.get(name, default)
    # bool is an int in Python: do not take true for a sample rate.
    if value is None or not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        wanted = {int: "an integer", bool: "true or false", str: "a string"}[kind]
        raise ProtocolError("bad_message", f'"{name}" must be {wanted}, got {value!r}')
    return value


def _mode(data: dict[str, Any], default: Mode | None) -> Mode:
    value = _field(data, "mode", str, default.value if default else None)
    try:
        return Mode(value)
    except ValueError:
        choices = ", ".join(m.value for m in Mode)
        raise ProtocolError("bad_message", f"mode {value!r} is not one of {choices}") from None


def pcm16_samples(data: bytes, max_bytes: int) -> np.ndarray:
    """A binary audio frame as float32 samples in [-1, 1]."""
    if len(data) > max_bytes:
        raise ProtocolError(
            "too_large",
            f"audio frame of {len(data)} bytes; at most {max_bytes} bytes "
            f"({max_bytes / 2 / SAMPLE_RATE:.2f} s) a frame: send smaller frames",
        )
    if len(data) % 2:
        raise ProtocolError("bad_audio", f"audio frame of {len(data)} bytes: PCM16 needs even")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def event_message(event: Event) -> str:
    return json.dumps(event.to_dict(), ensure_ascii=False)


def error_message(code: str, message: str) -> str:
    return json.dumps({"type": "error", "code": code, "message": message})


def audio_message(samples: np.ndarray, sample_rate: int) -> str:
    """One synthesised sentence as base64 PCM16 (self-describing: no binary framing to agree)."""
    pcm = to_pcm16(samples)
    return json.dumps(
        {
            "type": "tts_audio",
            "sample_rate": sample_rate,
            "pcm16": base64.b64encode(pcm).decode("ascii"),
        }
    )
