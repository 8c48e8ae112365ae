"""The microphone path, through fake ALSA devices (this machine has no sound card).

PortAudio reads the ALSA configuration once, when `sounddevice` is imported, so the smoke test
runs `tests/alsa/mic_smoke.py` in a fresh process with the fake configuration in its env.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from voice_livemind.audio import AudioSourceError, MicrophoneSource

ALSA_DIR = Path(__file__).parent / "alsa"
REPO = Path(__file__).parent.parent
SYSTEM_ALSA_CONF = Path("/usr/share/alsa/alsa.conf")


def require_portaudio() -> None:
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError) as exc:  # OSError: the PortAudio library itself is missing
        pytest.skip(f"sounddevice/PortAudio unavailable: {exc}")


def test_microphone_source_reads_a_fake_alsa_capture_device(tmp_path: Path) -> None:
    require_portaudio()
    if not SYSTEM_ALSA_CONF.exists():
        pytest.skip("needs ALSA (alsa-lib with /usr/share/alsa/alsa.conf)")
    tone = 0.25 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    raw = tmp_path / "mic.raw"  # what the fake microphone "hears": 1 s of 16-bit mono
    raw.write_bytes((tone * 32767).astype("<i2").tobytes())
    env = {
        **os.environ,
        "ALSA_CONFIG_PATH": f"{SYSTEM_ALSA_CONF}:{ALSA_DIR / 'fake_devices.conf'}",
        "FAKE_MIC_RAW": str(raw),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, str(ALSA_DIR / "mic_smoke.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for run in (result["named"], result["default"]):  # device="fakemic", then device=None
        assert run["frame_lengths"] == [320] and run["dtype"] == "float32"
        assert run["t"] == pytest.approx([i * 0.02 for i in range(25)])
        # int16 from the device, scaled to float: the file's first samples come back.
        np.testing.assert_allclose(run["head"], tone[:8], atol=1e-4)
        assert run["peak"] == pytest.approx(0.25, abs=0.01)
    stalled = result["stalled"]
    assert stalled["dropped"] > 0
    assert stalled["t"] == sorted(stalled["t"]) and stalled["t"][-1] > 0.2  # skipped ahead
    error = result["bad_device_error"]
    assert "999" in error and "'fakemic'" in error and "\n" not in error
    assert result["played_s"] == pytest.approx(0.2)


def test_missing_input_device_error_lists_devices() -> None:
    require_portaudio()
    with pytest.raises(AudioSourceError) as caught:
        MicrophoneSource(device=999)
    message = str(caught.value)
    assert "\n" not in message and "999" in message
    # With no sound card: "no audio input devices found: install libportaudio2 ... microphone";
    # elsewhere: "available input devices: 0: '...'".
    assert "input devices" in message
