"""One Whisper decode of an audio buffer, with the settings streaming needs.

Streaming re-decodes the same audio many times, so every decode must be cheap and predictable:
- temperature 0 only, with the compression-ratio and log-prob thresholds off: faster-whisper's
  temperature fallback re-decodes a buffer up to six times when words repeat, and one update
  would then take many times its usual time;
- beam 1, no conditioning on previous windows, at most `max_tokens_per_s` tokens per second of
  audio (a looping decoder stops early);
- a short encoder window. Whisper's encoder always sees 30 s (1,500 positions) and that fixed cost
  dominates short buffers (about 0.3 s on 2 cores whatever the audio length). CTranslate2 accepts
  fewer frames, so `ShortContextWhisperModel` encodes only the buffer plus `audio_context_pad_s`
  (the "audio_ctx" trick of whisper.cpp): 8x less encoder work for a 5 s buffer, at the price of
  running the model on inputs shorter than it was trained on. `audio_context_pad_s=None` restores
  the standard 30 s window;
- one pass over the buffer. faster-whisper decodes a window again from its last complete
  segment whenever the first pass ends inside one, which is most of the time when the buffer
  ends mid-speech and a prompt is given: a second encode, generate and alignment for a sliver of
  audio heard with no left context and no prompt. `ShortContextWhisperModel` keeps the
  unfinished segment of the first pass instead (see there).

Several streams' passes can be made in one Whisper call (`decode_passes`): one encode of the
stacked buffers (on the longest one's window) and one generate with each buffer's own prompt,
then each buffer's word alignment. The words are those of the pass made alone, up to the
encoder seeing a longer window of padding. `DecodeBatcher` (`batching.py`) gathers the passes of
streams decoding side by side.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from faster_whisper import WhisperModel

from .agreement import Word
from .filters import cut_loops, is_hallucination

SAMPLE_RATE = 16_000
_FRAMES_PER_S = 100  # Whisper's mel frames per second
_MAX_FRAMES = 3_000  # 30 s, the window Whisper was trained on
_MAX_NEW_TOKENS = 200  # 448-token context minus a full 223-token prompt and the SOT tokens
_UNHEARD_S = 1.0  # audio after the last word of a pass that is decoded again (see `decode`)
_MAX_SAMPLES = _MAX_FRAMES * SAMPLE_RATE // _FRAMES_PER_S
_MAX_PROMPT_TOKENS = 223  # Whisper's prompt: half its 448-token context, less one
# Prompts at least this long are cut to a common length to batch (`decode_passes`); the
# streaming prompt is about 200 characters, 40-50 tokens.
_SHARED_PROMPT_TOKENS = 24


def _clean(word: str) -> str:
    """Whisper's trailing "..." marks a buffer that ends mid-sentence, not speech; left in the
    committed text it would end up in prompts, and Whisper copies the prompt's style."""
    return word.strip().replace("...", "").replace("…", "")


class ShortContextWhisperModel(WhisperModel):
    """A `WhisperModel` for the short buffers of streaming: a short encoder window, one pass.

    - `encode_frames`: the encoder runs on the first `encode_frames` mel frames only.
      faster-whisper pads every window to 3,000 frames before `encode()`; this override slices
      the padding off again. `None` (the default) leaves the encoder unchanged. Set it per
      decode; one model should serve one recogniser (the attribute is not thread-safe).
    - A window that reaches the end of the audio (every window of a buffer under 30 s) and ends
      inside a segment is the last one: that unfinished segment is kept, not decoded again as a
      new window.
    """

    encode_frames: int | None = None

    def encode(self, features: np.ndarray):  # type: ignore[no-untyped-def]
        if self.encode_frames is not None and features.shape[-1] > self.encode_frames:
            features = np.ascontiguousarray(features[..., : self.encode_frames])
        return super().encode(features)

    def _split_segments_by_timestamps(  # type: ignore[no-untyped-def]
        self, tokenizer, tokens, time_offset, segment_size, segment_duration, seek
    ):
        """Whisper's segments of one window's tokens, the seek for the next window, and whether
        the window's text ended with a closed segment (faster-whisper 1.2's private method).

        When the tokens end inside a segment, faster-whisper drops that segment and seeks back
        to its start for another window, encoder and all (it does so again after word
        alignment, from the last word's end). For a streaming buffer that ends mid-speech, the
        usual case, that second window re-decodes the last second or less with neither left
        context nor prompt: a second encode and generate for every decode, and where its text
        differs it only adds a stray word ("... the lower boiling point A sharp."). So a window
        that reaches the end of the audio keeps its unfinished segment, which it decoded with
        all the context, and ends the pass.
        """
        segments, next_seek, closed = super()._split_segments_by_timestamps(
            tokenizer, tokens, time_offset, segment_size, segment_duration, seek
        )
        if closed or segment_size >= self.feature_extractor.nb_max_frames:
            return segments, next_seek, closed  # (a long file: later windows follow)
        rest = tokens[sum(len(s["tokens"]) for s in segments) :]  # the unfinished segment
        text = [t for t in rest if t < tokenizer.eot]
        if text:
            start = segments[-1]["end"] if segments else time_offset
            if rest[0] >= tokenizer.timestamp_begin:  # its opening timestamp
                start = time_offset + (rest[0] - tokenizer.timestamp_begin) * self.time_precision
            end = time_offset + segment_duration
            segments.append({"seek": seek, "start": start, "end": end, "tokens": text})
        return segments, seek + segment_size, True


@dataclass(frozen=True)
class DecoderConfig:
    language: str | None = "en"  # None: let a multilingual model detect it (costs a pass)
    beam_size: int = 1
    audio_context_pad_s: float | None = 3.0  # None: encode the standard 30 s window
    max_tokens_per_s: float = 8.0  # ~3x normal speech (words plus timestamp tokens)
    max_words_per_s: float = 6.0  # more is a loop running past the audio (speech: 2-4 words/s)
    no_speech_prob: float = 0.6  # with avg_logprob below -1: Whisper's own "no speech" rule


@dataclass(frozen=True)
class PassRequest:
    """One Whisper pass over a buffer: what `decode_passes` is given."""

    audio: np.ndarray  # 16 kHz mono float32
    prompt: str
    beam_size: int


class PassGatherer(Protocol):
    """Where a decoder sends passes to be made together with other streams' (`batching.py`)."""

    def gathers(self) -> bool: ...

    def submit(self, decoder: WhisperDecoder, request: PassRequest) -> list[Word]: ...


@dataclass(frozen=True)
class Hypothesis:
    """The words Whisper heard in a buffer (times relative to the buffer start)."""

    words: tuple[Word, ...]
    compute_s: float


class WhisperDecoder:
    """Decodes buffers with one Whisper model; thread-safe (the model decodes one call at a
    time). With a `batcher`, passes that streams running side by side ask for at once are made
    in one call (`decode_passes`)."""

    def __init__(
        self,
        model: WhisperModel,
        config: DecoderConfig | None = None,
        batcher: PassGatherer | None = None,
    ) -> None:
        self.model = model
        self.config = config or DecoderConfig()
        self.batcher = batcher
        self._model_lock = threading.Lock()

    def decode(
        self, audio: np.ndarray, prompt: str = "", beam_size: int | None = None
    ) -> Hypothesis:
        """Transcribe `audio` (16 kHz mono float32), primed with `prompt` (earlier text);
        `beam_size` overrides the configured one for this decode."""
        cfg = self.config
        started = time.perf_counter()
        beam_size = beam_size or cfg.beam_size
        seconds = len(audio) / SAMPLE_RATE
        words = self._pass(PassRequest(audio, prompt, beam_size))
        # One pass hears the whole buffer (see `ShortContextWhisperModel`), unless Whisper
        # closed its text well before the end of the audio: a prompt can mislead it into
        # "The plant is floating during the spring." for 2 s of a 4.4 s buffer. The rest is
        # decoded then, as faster-whisper's next window would: with no prompt (with that text
        # as its prompt, Whisper only said it again).
        heard_until = words[-1].end if words else 0.0
        if words and seconds - heard_until > _UNHEARD_S:
            rest = audio[round(heard_until * SAMPLE_RATE) :]
            words += [w.shifted(heard_until) for w in self._pass(PassRequest(rest, "", beam_size))]
        words = words[: 1 + math.ceil(cfg.max_words_per_s * seconds)]
        return Hypothesis(tuple(words), time.perf_counter() - started)

    def _pass(self, request: PassRequest) -> list[Word]:
        if self.batcher is not None and self.batcher.gathers():
            return self.batcher.submit(self, request)
        return self.decode_passes([request])[0]

    def decode_passes(self, requests: Sequence[PassRequest]) -> list[list[Word]]:
        """The words of each pass. Greedy passes over buffers under 30 s whose prompts are as
        long go in one call (CTranslate2 needs the start token at one position in a batch):
        prompts of at least `_SHARED_PROMPT_TOKENS` earlier tokens are cut to the shortest of
        them, shorter ones batch only with prompts of their own length."""
        results: list[list[Word] | None] = [None] * len(requests)
        groups: dict[int, list[int]] = {}  # prompt length -> passes
        earlier: list[list[int]] = []
        if self.config.language is not None and len(requests) > 1:
            earlier = [self._earlier_tokens(r.prompt) for r in requests]
            shared = min((len(e) for e in earlier if len(e) >= _SHARED_PROMPT_TOKENS), default=0)
            for i, (request, tokens) in enumerate(zip(requests, earlier, strict=True)):
                if request.beam_size != 1 or len(request.audio) >= _MAX_SAMPLES:
                    continue
                length = shared if shared and len(tokens) >= shared else len(tokens)
                groups.setdefault(length, []).append(i)
        with self._model_lock:
            for length, members in groups.items():
                if len(members) < 2:
                    continue
                cut = [earlier[i][len(earlier[i]) - length :] for i in members]
                heard = self._passes_together([requests[i] for i in members], cut)
                for i, words in zip(members, heard, strict=True):
                    results[i] = words
            for i, request in enumerate(requests):
                if results[i] is None:
                    results[i] = self._decode_pass(request.audio, request.prompt, request.beam_size)
        return [words or [] for words in results]

    def _earlier_tokens(self, prompt: str) -> list[int]:
        """The tokens of a prompt as faster-whisper encodes `initial_prompt`, at most as many
        as Whisper's prompt holds."""
        if not prompt:
            return []
        return self._tokenizer.encode(" " + prompt.strip())[-_MAX_PROMPT_TOKENS:]

    @functools.cached_property
    def _tokenizer(self) -> Any:
        """The tokenizer `transcribe` builds for each call, built once."""
        from faster_whisper.tokenizer import Tokenizer

        model = self.model
        return Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, "transcribe", self.config.language
        )

    def _max_new_tokens(self, seconds: float) -> int:
        return min(_MAX_NEW_TOKENS, 16 + math.ceil(self.config.max_tokens_per_s * seconds))

    def _decode_pass(self, audio: np.ndarray, prompt: str, beam_size: int) -> list[Word]:
        seconds = len(audio) / SAMPLE_RATE
        self._set_encoder_window(seconds)
        try:
            return self._transcribe(audio, prompt, self._max_new_tokens(seconds), beam_size)
        finally:
            self._set_encoder_window(None)  # leave the model as others expect it

    def _transcribe(
        self, audio: np.ndarray, prompt: str, max_new_tokens: int, beam_size: int
    ) -> list[Word]:
        cfg = self.config
        segments, _info = self.model.transcribe(
            audio,
            language=cfg.language,
            beam_size=beam_size,
            best_of=1,
            temperature=0.0,
            compression_ratio_threshold=None,
            log_prob_threshold=None,
            no_speech_threshold=None,
            condition_on_previous_text=False,
            initial_prompt=prompt or None,
            word_timestamps=True,
            vad_filter=False,
            max_new_tokens=max_new_tokens,
        )
        return self._words(segments)  # a lazy generator: decoding happens while iterating

    def _words(self, segments: Iterable[Any]) -> list[Word]:
        """The words of faster-whisper `Segment`s, without what is not speech."""
        words: list[Word] = []
        for segment in segments:
            if segment.no_speech_prob > self.config.no_speech_prob and segment.avg_logprob < -1.0:
                continue
            if is_hallucination(segment.text):
                continue
            words.extend(
                Word(w.start, w.end, _clean(w.word), float(w.probability))
                for w in segment.words or []
            )
        # Bare punctuation ("." "...") is no word; committed, it ends up in later prompts, and a
        # prompt ending in ". ." makes Whisper answer with another "." and stop.
        return cut_loops([w for w in words if any(c.isalnum() for c in w.text)])

    def _passes_together(
        self, requests: Sequence[PassRequest], earlier: Sequence[list[int]]
    ) -> list[list[Word]]:
        """Greedy passes in one encode and one generate, each primed with its `earlier`
        tokens (all as many): what `transcribe` does for one buffer of under 30 s (one window,
        temperature 0, word timestamps), for several."""
        import ctranslate2
        from faster_whisper.transcribe import Segment, get_suppressed_tokens, pad_or_trim
        from faster_whisper.transcribe import Word as TimedWord

        model = self.model
        tokenizer = self._tokenizer
        features, frames = [], []
        for request in requests:
            mel = model.feature_extractor(request.audio)
            frames.append(mel.shape[-1] - 1)  # as transcribe: the last frame is padding
            features.append(pad_or_trim(mel[:, : frames[-1]]))
        window = max(self._window_frames(len(r.audio) / SAMPLE_RATE) for r in requests)
        stacked = np.ascontiguousarray(np.stack(features)[..., :window])
        encoded = model.model.encode(ctranslate2.StorageView.from_array(stacked), to_cpu=True)
        prompts = [model.get_prompt(tokenizer, list(tokens)) for tokens in earlier]
        max_new = [self._max_new_tokens(len(r.audio) / SAMPLE_RATE) for r in requests]
        results = model.model.generate(
            encoded,
            prompts,
            beam_size=1,
            max_length=max(len(p) + n for p, n in zip(prompts, max_new, strict=True)),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
            max_initial_timestamp_index=round(1.0 / model.time_precision),
        )
        outputs = np.asarray(encoded)  # (batch, positions, width): one row per buffer
        words = []
        for i, result in enumerate(results):
            tokens = result.sequences_ids[0][: max_new[i]]
            avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
            duration = frames[i] * model.feature_extractor.time_per_frame
            segments, _, _ = model._split_segments_by_timestamps(
                tokenizer, tokens, 0.0, frames[i], duration, 0
            )
            own = ctranslate2.StorageView.from_array(np.ascontiguousarray(outputs[i : i + 1]))
            model.add_word_timestamps(
                [segments], tokenizer, own, frames[i], "\"'“¿([{-", "\"'.。,，!！?？:：”)]}、", 0.0
            )
            texts = [tokenizer.decode(s["tokens"]) for s in segments]
            timed = [
                Segment(
                    id=n, seek=0, start=s["start"], end=s["end"], tokens=s["tokens"], text=text,
                    avg_logprob=avg_logprob, compression_ratio=0.0,
                    no_speech_prob=result.no_speech_prob,
                    words=[TimedWord(**w) for w in s["words"]], temperature=0.0,
                )
                for n, (s, text) in enumerate(zip(segments, texts, strict=True))
                if s["start"] != s["end"] and text.strip()
            ]  # fmt: skip
            words.append(self._words(timed))
        return words

    def _window_frames(self, seconds: float) -> int:
        """The encoder window for a buffer of `seconds` (see `ShortContextWhisperModel`)."""
        pad = self.config.audio_context_pad_s
        if pad is None or not isinstance(self.model, ShortContextWhisperModel):
            return _MAX_FRAMES
        # Whole seconds, so that consecutive decodes of a growing buffer mostly share a size.
        return min(_MAX_FRAMES, math.ceil(seconds + pad) * _FRAMES_PER_S)

    def _set_encoder_window(self, seconds: float | None) -> None:
        if not isinstance(self.model, ShortContextWhisperModel):
            return
        self.model.encode_frames = None if seconds is None else self._window_frames(seconds)
