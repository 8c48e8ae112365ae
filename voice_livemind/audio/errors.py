"""Errors of the audio layer: each carries one line a user can act on."""

from __future__ import annotations


class AudioError(RuntimeError):
    """Base class, so a caller can catch every audio failure at once."""


class AudioSourceError(AudioError):
    """A file cannot be read or decoded, or no microphone can be opened."""


class AudioSinkError(AudioError):
    """No speaker can be opened, or a sink cannot be written."""


class TtsError(AudioError):
    """The speech synthesiser is missing or failed."""


def one_line(error: BaseException | str) -> str:
    """Collapse a (possibly multi-line) library message so errors stay one line."""
    text = str(error) or type(error).__name__
    return " ".join(text.split())
