"""Access to PortAudio through sounddevice, with errors that say how to fix the setup.

sounddevice is imported lazily: it loads the PortAudio shared library at import time and fails
with `OSError` when it is missing, which must not break file-only use of the audio layer.
"""

from __future__ import annotations

from types import ModuleType
from typing import Literal

from .errors import AudioError, one_line

Kind = Literal["input", "output"]

# PortAudio itself loaded (otherwise the import failed earlier): the sound system has no device.
_SETUP_HINT = {
    "input": "plug in a microphone, or check that ALSA sees one (`arecord -l`)",
    "output": "connect a speaker, or check that ALSA sees one (`aplay -l`)",
}


def load_sounddevice(error: type[AudioError]) -> ModuleType:
    """Import sounddevice, raising `error` with a fix-it hint when it or PortAudio is missing."""
    try:
        import sounddevice
    except ImportError as exc:
        raise error(
            f"sounddevice is not installed ({one_line(exc)}): pip install sounddevice"
        ) from exc
    except OSError as exc:  # sounddevice raises OSError when libportaudio is absent
        raise error(
            f"PortAudio is not available ({one_line(exc)}): apt-get install libportaudio2"
        ) from exc
    return sounddevice


def describe_devices(sd: ModuleType, kind: Kind) -> str:
    """One line naming the devices usable for `kind`, or saying there are none and what to do."""
    channels_key = f"max_{kind}_channels"
    try:
        devices = [d for d in sd.query_devices() if d[channels_key] > 0]
    except Exception as exc:  # a broken PortAudio setup should not hide the original error
        return f"cannot list audio devices ({one_line(exc)})"
    if not devices:
        return f"no audio {kind} devices found: {_SETUP_HINT[kind]}"
    names = ", ".join(f"{d['index']}: {d['name']!r}" for d in devices)
    return f"available {kind} devices: {names}"


def check_device(
    sd: ModuleType,
    kind: Kind,
    device: int | str | None,
    error: type[AudioError],
    **settings: object,
) -> None:
    """Fail early, with the device list, when `device` cannot be opened with `settings`."""
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=device, channels=1, **settings)
    except Exception as exc:  # PortAudioError or ValueError, depending on what is wrong
        raise error(
            f"cannot open audio {kind} device {device!r} ({one_line(exc)}); "
            f"{describe_devices(sd, kind)}"
        ) from exc
