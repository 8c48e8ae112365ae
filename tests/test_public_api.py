"""The package's public API: every name resolves, lazily (importing the package loads no engine)."""

import subprocess
import sys

import pytest

import voice_livemind


def test_every_public_name_resolves():
    for name in voice_livemind.__all__:
        assert getattr(voice_livemind, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = voice_livemind.Nope


def test_importing_the_package_loads_neither_vllm_nor_whisper():
    probe = (
        "import sys, voice_livemind; print('vllm' in sys.modules, 'faster_whisper' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "False"], done.stderr[-500:]
