"""The acoustic end-of-turn signal: Smart Turn v3.2 (pipecat, BSD-2), P(the turn is complete)
from the last 8 s of 16 kHz audio.

The ONNX model and its numpy Whisper feature extractor ship inside the `pipecat-ai` wheel
(installed with --no-deps for these two files). Importing `pipecat` itself is avoided: its
package `__init__` needs pipecat's own dependencies and replaces `asyncio.wait_for`. Both
files are found through the installed distribution's location and used directly: the model with
onnxruntime (a faster-whisper dependency already), the feature module loaded from its file (it
imports numpy only).
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

SAMPLE_RATE = 16_000
WINDOW_S = 8.0  # the model hears at most the last 8 s, zero-padded at the front when shorter
_SMART_TURN_DIR = ("audio", "turn", "smart_turn")
_MODEL_FILE = "smart-turn-v3.2-cpu.onnx"
_FEATURES_FILE = "_whisper_features.py"


class SmartTurnUnavailable(RuntimeError):
    """pipecat-ai (its data files) is not installed; the message says how to install it."""


def smart_turn_dir() -> Path:
    """Where the pipecat-ai wheel put Smart Turn's files (without importing pipecat)."""
    spec = importlib.util.find_spec("pipecat")  # a top-level find_spec runs no package code
    if spec is None or not spec.submodule_search_locations:
        raise SmartTurnUnavailable(
            "Smart Turn needs the pipecat-ai wheel's data files: pip install --no-deps "
            "pipecat-ai==1.14.0"
        )
    folder = Path(next(iter(spec.submodule_search_locations))).joinpath(*_SMART_TURN_DIR)
    if not (folder / "data" / _MODEL_FILE).is_file():
        raise SmartTurnUnavailable(f"no {_MODEL_FILE} under {folder}: pipecat-ai 1.14.0 has it")
    return folder


def _load_feature_module(folder: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "voice_livemind_smart_turn_features", folder / _FEATURES_FILE
    )
    if spec is None or spec.loader is None:
        raise SmartTurnUnavailable(f"cannot load {folder / _FEATURES_FILE}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class TurnPrediction:
    p_complete: float  # the model's probability that the speaker has finished their turn
    compute_s: float  # features + inference


class SmartTurn:
    """Smart Turn v3.2 on the CPU. `predict(audio)` is thread-safe (one call at a time)."""

    def __init__(self, threads: int = 1) -> None:
        import onnxruntime as ort

        folder = smart_turn_dir()
        features = _load_feature_module(folder)
        self._features: Callable[..., np.ndarray] = features.compute_whisper_log_mel_features
        options = ort.SessionOptions()
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(folder / "data" / _MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        self._lock = threading.Lock()

    def predict(self, audio: np.ndarray) -> TurnPrediction:
        """P(complete) for a turn whose audio so far is `audio` (16 kHz mono float32, ending
        now; the speech and the silence after it). Only the last 8 s are heard."""
        audio = np.asarray(audio, dtype=np.float32).ravel()
        if audio.size == 0:
            raise ValueError("Smart Turn needs some audio, got none")
        started = time.perf_counter()
        window = round(WINDOW_S * SAMPLE_RATE)
        audio = audio[-window:]
        if audio.size < window:
            audio = np.pad(audio, (window - audio.size, 0))
        features = self._features(audio, do_normalize=True)[None].astype(np.float32)
        with self._lock:
            (logits,) = self._session.run(None, {"input_features": features})
        # The exported graph ends in a sigmoid: its "logits" output is already a probability.
        p = float(np.asarray(logits).reshape(-1)[0])
        return TurnPrediction(p_complete=p, compute_s=time.perf_counter() - started)
