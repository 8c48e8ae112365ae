"""The streaming recogniser: 16 kHz frames in, ASR events out.

Policy, and why:
- A VAD gate decides where speech is. Nothing is decoded outside speech (Whisper invents words
  in silence), and words timed outside it are dropped.
- While speech goes on, the buffer (audio since the last cut) is re-decoded every `cadence_s` of
  new audio and words are committed by LocalAgreement-2 (`agreement.py`).
- Decoding never falls behind real time: after a decode that took `c` seconds, the next one
  waits for at least `c / max_load` seconds of new audio. Ticks are skipped, never queued, and the
  same rule holds whether audio arrives in real time or faster. When streams share the decoder
  (`scheduler.py`), `c` counts the time the decode waited for it too (`feed(queued_s=)`): with K
  streams waiting for each other, each decodes about K times less often and together they stay
  within the same budget.
- A pause of `pause_commit_s` (a sentence end, usually) commits the whole buffer at once:
  Whisper has seen the whole phrase and no later hypothesis would add context. The buffer is
  then cut in a gap between words about `pause_context_s` before the pause: the next phrase is
  heard after the audio of the one before it, which Whisper needs (a phrase decoded alone,
  cut at the pause, is misheard more often; the committed words heard again are dropped by the
  agreement). The price is decode time: longer buffers.
  The buffer is decoded once early in every pause (after 0.1 s of silence), so that when the
  pause turns out long enough the hypothesis is already there: committing it costs no decode.
  That decode is the final pass: it hears the whole buffer (left context matters to Whisper)
  unless the buffer is longer than `final_pass_max_s`, and may use a wider beam
  (`final_beam_size`). `SpeechPaused` then tells listeners the end of the utterance may be near
  (a final answer can be prepared speculatively), and `SpeechResumed` that it was not.
- The buffer is bounded by time, whatever Whisper's segments: past `_TRIM_S` it is cut at the
  end of the last committed word; past `max_buffer_s` (no commits: one long unsettled stretch)
  the words older than `_TRIM_S / 2` are committed as they stand and the buffer is cut there.
  Per-update work therefore stays bounded through a monologue of any length.
- `min_silence_s` of silence (the VAD's) ends the utterance: the uncommitted tail is decoded
  once more and committed (usually the pause decode already heard it), and `UtteranceEnded`
  carries the full transcript. The next utterance starts a new buffer.

No threads inside: `feed()` does the work in the caller's thread and returns the events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..events import Event
from .agreement import LocalAgreement, Word, join_words
from .confidence import transcript_confidence
from .decoder import DecoderConfig, Hypothesis, WhisperDecoder
from .events import (
    AsrDecoded,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    UtteranceEnded,
    WordsCommitted,
    WordsPartial,
)
from .filters import within
from .vad import SAMPLE_RATE, StreamingVad, VadConfig, VadTransition


@dataclass(frozen=True)
class RecognizerConfig:
    cadence_s: float = 0.3  # decode after at least this much new audio while speech goes on
    pause_commit_s: float | None = 0.25  # a pause this long commits everything heard (None: off)
    # and cuts the buffer, keeping this much audio before the pause as the next phrase's left
    # context (Whisper hears a phrase better after the one before it; see `_context_cut`)
    pause_context_s: float = 5.0
    max_buffer_s: float = 15.0  # past this, commit old words as they stand and cut
    # The early pause decode is the final pass when the pause turns out to be the end: it cuts
    # the buffer at committed audio only when longer than this. Whisper needs the left context,
    # and a longer buffer would delay the final transcript (decode time grows with the buffer).
    final_pass_max_s: float = 8.0
    final_beam_size: int | None = None  # beam for pause and end decodes (None: the decoder's)
    # Decode for at most this fraction of real time while speech goes on. The rest is the
    # LLM's: on a small CPU its inferences run beside Whisper (at a lower priority), and a
    # recogniser that takes most of the time starves them until the user stops talking.
    # Pauses commit what was heard, so fewer cadence decodes cost little accuracy.
    max_load: float = 0.4
    vad: VadConfig = field(default_factory=VadConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)


_STEP = SAMPLE_RATE // 10  # feed() works through its input 0.1 s at a time
_IDLE_KEEP_S = 1.0  # audio kept outside speech: the VAD decides a start only after min_speech_s
# A decode this long after the VAD's end of speech heard all of it: a shorter margin clips
# soft word endings ("force" -> "for").
_HEARD_ALL_S = 0.1
_MIN_CUT_S = 0.5  # a trim removes at least this much audio
# A buffer shorter than this is not worth a cadence decode: Whisper has too little to go on.
_MIN_DECODE_S = 0.8
# Hypotheses of the first seconds of an utterance, with no earlier words as context, are
# unreliable even when two agree ("International Trade Will Almost Always Man If It Most"):
# agreement commits only once the utterance's first buffer is this long.
_MIN_COMMIT_BUFFER_S = 2.5
# Past this, the buffer is cut at the last committed word: a few phrases of left context are
# all Whisper uses, and decode time grows with the buffer.
_TRIM_S = 10.0
# Committed words left in the buffer when it is trimmed at a word end: Whisper's word end times
# are rough, and a cut at the very last committed word could clip the next one.
_OVERLAP_WORDS = 2
# A decode slower than this (a busy machine) trims the committed audio off the buffer before
# `_TRIM_S` is reached: a little acoustic context traded for staying in real time.
_COMPUTE_BUDGET_S = 0.6
# Silence kept after speech in a final decode: Whisper ends a phrase better when it hears its end.
_TAIL_SILENCE_S = 0.3
# Words may stick out of VAD speech by this much: Whisper's word times jitter by about that.
_WORD_PAD_S = 0.3
# The initial prompt: the tail of the committed text, as long as this; a longer prompt costs
# decode time and gives Whisper more to copy from.
_PROMPT_CHARS = 200


class StreamingRecognizer:
    """Streaming speech recognition over a `WhisperDecoder`, for one audio stream."""

    def __init__(self, decoder: WhisperDecoder, config: RecognizerConfig | None = None) -> None:
        self.decoder = decoder
        self.config = config or RecognizerConfig()
        self.vad = StreamingVad(self.config.vad)
        self._stream_samples = 0
        self._buffer = np.zeros(0, dtype=np.float32)
        self._buffer_t = 0.0  # stream time of the buffer's first sample
        self._history = ""  # committed text of earlier utterances (for the prompt)
        self._queued_s = 0.0  # the wait of the current feed() for a shared decoder
        self._reset_utterance()

    # -- public ------------------------------------------------------------------------------

    @property
    def stream_t(self) -> float:
        return self._stream_samples / SAMPLE_RATE

    @property
    def buffer_s(self) -> float:
        return len(self._buffer) / SAMPLE_RATE

    @property
    def near_end(self) -> bool:
        """Speech has paused (longer than the gaps between words): the end of the utterance may
        be near, and the next decode is the pause's final pass or the end's."""
        return self._start_t is not None and self.vad.trailing_silence_s >= _HEARD_ALL_S

    @property
    def undecoded_s(self) -> float:
        """Audio of the current utterance fed since its last decode, seconds."""
        if self._start_t is None:
            return 0.0
        return max(0.0, self.stream_t - self._decoded_until)

    def would_decode(self, new_s: float) -> bool:
        """Whether `new_s` more seconds of speech would make `feed` run a cadence decode (what
        the VAD will hear in them aside: a pause or an end may add one, silence may skip it)."""
        if self._start_t is None:
            return False
        # In samples, as `feed` counts: a float sum can land on the other side of a cadence
        # boundary that `feed` then reaches exactly.
        t = (self._stream_samples + round(new_s * SAMPLE_RATE)) / SAMPLE_RATE
        if t - max(self._buffer_t, self._start_t) < _MIN_DECODE_S:
            return False
        if self.vad.trailing_silence_s > 0.0:  # a pause: decoded once, early (see `_due`)
            return self._decoded_until < self.vad.silence_start_t + _HEARD_ALL_S
        return t - self._decoded_until >= self._interval

    @property
    def committed_text(self) -> str:
        """Everything committed in this stream, utterances joined by spaces."""
        return " ".join(t for t in (self._history, self._utterance_text) if t)

    def feed(self, frames: np.ndarray, queued_s: float = 0.0) -> list[Event]:
        """Take more audio (16 kHz mono, float in [-1, 1] or int16; any length); return the events
        it caused. `queued_s`: how long this call waited for a decoder shared with other streams
        (counted in the decode budget and reported by the first decode's `AsrDecoded`).

        A long `frames` is what piled up while the caller was busy: it is gated and checked for
        pauses step by step, but re-decoded at most once, at its end (ticks are skipped, never
        queued). A caller that falls behind should pass everything it has in one call.
        """
        audio = np.asarray(frames).ravel()
        if np.issubdtype(audio.dtype, np.integer):
            audio = audio / 32768.0
        audio = audio.astype(np.float32, copy=False)
        self._queued_s = queued_s
        events: list[Event] = []
        for i in range(0, len(audio), _STEP):
            newest = i + _STEP >= len(audio)
            events.extend(self._step(audio[i : i + _STEP], may_update=newest))
        self._queued_s = 0.0
        return events

    def finish(self) -> list[Event]:
        """End of stream: close and commit an utterance still open."""
        return self._on_transitions(self.vad.flush())

    def end_turn(self) -> list[Event]:
        """End the utterance at the current pause now, before the VAD's `min_silence_s`: the
        caller's end-of-turn decision (`voice_livemind.turn.fusion`) says the pause is long
        enough. The usual `SpeechEnded` and `UtteranceEnded` follow; nothing outside a pause."""
        if self._start_t is None:
            return []
        return self._on_transitions(self.vad.end_pause())

    # -- one step of audio ---------------------------------------------------------------------

    def _step(self, chunk: np.ndarray, may_update: bool) -> list[Event]:
        self._buffer = np.concatenate([self._buffer, chunk])
        self._stream_samples += len(chunk)
        events = self._on_transitions(self.vad.feed(chunk))
        if self._start_t is None:
            self._cut(self.stream_t - _IDLE_KEEP_S)
            return events
        cfg = self.config
        pause = self.vad.trailing_silence_s
        if pause == 0.0 and self._pause_done:
            self._pause_done = False
            events.append(SpeechResumed(t=self.stream_t, audio_t=self.vad.processed_t))
        if cfg.pause_commit_s is not None and pause >= cfg.pause_commit_s:
            if not self._pause_done:
                self._pause_done = True
                silence_start = self.vad.silence_start_t
                events.extend(self._commit_buffer("pause", silence_start))
                events.append(SpeechPaused(t=self.stream_t, audio_t=silence_start))
        elif may_update and self._due():
            if pause > 0.0 and self.buffer_s > cfg.final_pass_max_s:
                self._cut_in_committed()  # the early pause decode: see `final_pass_max_s`
            events.extend(self._update(final=pause > 0.0))
        return events

    def _on_transitions(self, transitions: Sequence[VadTransition]) -> list[Event]:
        events: list[Event] = []
        for tr in transitions:
            if tr.kind == "start":
                self._start_t = tr.t
                self._decoded_until = tr.t
                self._cut(tr.t)
                events.append(SpeechStarted(t=self.stream_t, audio_t=tr.t))
            elif self._start_t is not None:
                events.append(SpeechEnded(t=self.stream_t, audio_t=tr.t))
                events.extend(self._end_utterance(tr.t))
        return events

    # -- decoding ----------------------------------------------------------------------------

    def _due(self) -> bool:
        """A cadence tick: enough new audio since the last decode (see `RecognizerConfig.max_load`).

        Also, once, early in a pause: the hypothesis of speech plus a little silence is then
        ready when the pause is long enough to commit it, with no decode left to wait for.
        """
        if self.stream_t - max(self._buffer_t, self._start_t or 0.0) < _MIN_DECODE_S:
            return False
        pause = self.vad.trailing_silence_s
        if pause > 0.0:  # a pause began: wait for it, then decode once (no decode to wait for)
            heard_all = self._decoded_until >= self.vad.silence_start_t + _HEARD_ALL_S
            return pause >= _HEARD_ALL_S and not heard_all
        return self.stream_t - self._decoded_until >= self._interval

    def _decode(
        self, kind: str, speech_end_t: float | None = None, final: bool = False
    ) -> tuple[Hypothesis, list[Event]]:
        """Decode the buffer, up to a little after `speech_end_t` when speech has ended, and
        keep the words that lie inside VAD speech."""
        cfg = self.config
        end = len(self._buffer)
        if speech_end_t is not None:
            until = speech_end_t + _TAIL_SILENCE_S - self._buffer_t
            end = min(end, max(0, round(until * SAMPLE_RATE)))
        beam = cfg.final_beam_size if final else None
        hyp = self.decoder.decode(self._buffer[:end], self._prompt(), beam_size=beam)
        speech_from = (self._start_t or 0.0) - _WORD_PAD_S
        speech_until = max(self.vad.last_voiced_t, speech_end_t or 0.0) + _WORD_PAD_S
        words = within([w.shifted(self._buffer_t) for w in hyp.words], speech_from, speech_until)
        self._decoded_until = self.stream_t
        queued_s, self._queued_s = self._queued_s, 0.0  # later decodes of this feed did not wait
        self._interval = max(
            self.config.cadence_s, (hyp.compute_s + queued_s) / self.config.max_load
        )
        self._last_compute_s = hyp.compute_s
        metric = AsrDecoded(
            t=self.stream_t,
            kind=kind,
            buffer_s=end / SAMPLE_RATE,
            compute_s=hyp.compute_s,
            queued_s=queued_s,
            next_interval_s=self._interval,
            audio_t=self.stream_t,
        )
        return Hypothesis(tuple(words), hyp.compute_s), [metric]

    def _update(self, final: bool = False) -> list[Event]:
        # Trimmed before decoding too: on a busy machine decodes are far apart (see
        # `RecognizerConfig.max_load`) and the audio that piled up since the last one would
        # otherwise all be decoded at once.
        trimmed = self._trim()
        hyp, events = self._decode("pause" if final else "update", final=final)
        events = trimmed + events
        self._agreement.insert(hyp.words)
        trusted = bool(self._utterance_words) or self.buffer_s >= _MIN_COMMIT_BUFFER_S
        events.extend(self._committed(self._agreement.flush(trusted), "agreement"))
        events.append(
            WordsPartial(
                t=self.stream_t,
                text=join_words(self._agreement.complete()),
                committed_text=self._utterance_text,
            )
        )
        events.extend(self._trim())
        return events

    def _commit_buffer(self, kind: str, speech_end_t: float) -> list[Event]:
        """Speech paused or ended at `speech_end_t`: commit all of it; cut the buffer there.

        When the last decode already heard all the speech, its hypothesis is committed as is;
        otherwise the buffer (the short stretch since the last cut) is decoded once more.
        """
        events: list[Event] = []
        if self._decoded_until < speech_end_t + _HEARD_ALL_S:
            hyp, events = self._decode(kind, speech_end_t, final=True)
            self._agreement.insert(hyp.words)
        events.extend(self._committed(self._agreement.commit_all(), kind))
        cut = min(max(speech_end_t, self._agreement.last_committed_end), self.stream_t)
        if kind == "pause" and self.config.pause_context_s > 0.0:
            cut = self._context_cut(cut - self.config.pause_context_s)
        self._cut(cut)
        self._agreement.drop_before(self._buffer_t)
        return events

    def _context_cut(self, target_t: float) -> float:
        """Where to cut the buffer to keep about the audio after `target_t`: a silent gap
        between words within 0.5 s of it, else the end of the committed word nearest to it, so
        that no word is cut in two."""
        if target_t <= self._buffer_t:
            return self._buffer_t
        gap = self.vad.silent_gap(target_t - 0.5, target_t + 0.5)
        if gap is not None:
            return gap
        ends = [w.end for w in self._utterance_words if w.end > self._buffer_t]
        return min(ends, key=lambda end: abs(end - target_t), default=self._buffer_t)

    def _trim(self) -> list[Event]:
        """Keep the buffer bounded by time, whatever Whisper's segments look like."""
        cfg = self.config
        if self.buffer_s > _TRIM_S or self._last_compute_s > _COMPUTE_BUDGET_S:
            self._cut_in_committed()
        if self.buffer_s <= cfg.max_buffer_s:
            return []
        keep_from = self.stream_t - _TRIM_S / 2
        old = [w for w in self._agreement.complete() if w.end <= keep_from]
        events = self._committed(self._agreement.commit_prefix(len(old)), "trim")
        if not self._cut_in_committed():
            self._cut(keep_from)  # Whisper heard no words at all: drop the oldest audio anyway
            self._agreement.drop_before(self._buffer_t)
        return events

    def _cut_in_committed(self) -> bool:
        """Cut the buffer inside its committed part; False when nothing there can be cut.

        Best in a gap between words: a silent window of the VAD's among the committed audio
        (`StreamingVad.silent_gap`). Otherwise at a committed word's end, `_OVERLAP_WORDS` before
        the last one: Whisper's word end times are rough, a cut at the very last committed word
        could clip the next word, and the words left in the buffer are re-decoded and dropped
        again by the agreement's time filter and n-gram de-duplication.
        """
        committed_end = self._agreement.last_committed_end
        gap = self.vad.silent_gap(self._buffer_t + _MIN_CUT_S, committed_end + _HEARD_ALL_S)
        if gap is not None:
            self._cut(gap)
        else:
            words = [w for w in self._utterance_words if w.end > self._buffer_t]
            if len(words) <= _OVERLAP_WORDS:
                return False
            self._cut(words[-1 - _OVERLAP_WORDS].end)
        self._agreement.drop_before(self._buffer_t)
        return True

    def _end_utterance(self, speech_end_t: float) -> list[Event]:
        events = self._commit_buffer("end", speech_end_t)
        text = self._utterance_text
        if text:  # noise the VAD let through but Whisper found no words in is no utterance
            start_t = self._start_t or 0.0
            sureness = transcript_confidence(w.probability for w in self._utterance_words)
            events.append(
                UtteranceEnded(
                    t=self.stream_t,
                    text=text,
                    audio_t=speech_end_t,
                    start_t=start_t,
                    confidence=sureness.mean_probability,
                )
            )
            self._history = f"{self._history} {text}".strip()[-10 * _PROMPT_CHARS :]
        self._reset_utterance()
        return events

    # -- state -------------------------------------------------------------------------------

    def _committed(self, words: list[Word], reason: str) -> list[Event]:
        """Append `words` to the utterance; the event saying so."""
        if not words:
            return []
        before = self._utterance_text
        self._utterance_words.extend(words)
        self._utterance_text = join_words(self._utterance_words)
        return [
            WordsCommitted(
                t=self.stream_t,
                words=tuple((w.start, w.end, w.text, w.probability) for w in words),
                text=self._utterance_text[len(before) :],
                committed_text=self._utterance_text,
                reason=reason,
            )
        ]

    def _prompt(self) -> str:
        """The committed text before the buffer (as whisper_streaming does).

        Committed words still inside the buffer are left out: with the same words in its prompt
        and in its audio, Whisper tends to skip ahead and time the rest from the buffer start.
        """
        limit = _PROMPT_CHARS
        before = [w for w in self._utterance_words if w.end <= self._buffer_t]
        text = " ".join(t for t in (self._history, join_words(before)) if t)
        if len(text) <= limit:
            return text
        return text[-limit:].split(" ", 1)[-1] if limit > 0 else ""  # from a word boundary

    def _cut(self, t: float) -> None:
        """Drop buffered audio before stream time `t`."""
        drop = round((t - self._buffer_t) * SAMPLE_RATE)
        if drop > 0:
            drop = min(drop, len(self._buffer))
            self._buffer = self._buffer[drop:]
            self._buffer_t += drop / SAMPLE_RATE

    def _reset_utterance(self) -> None:
        self._agreement = LocalAgreement()
        self._utterance_words: list[Word] = []
        self._utterance_text = ""
        self._start_t: float | None = None
        self._decoded_until = 0.0
        self._interval = self.config.cadence_s
        self._last_compute_s = 0.0
        self._pause_done = False


def create_recognizer(
    model: str | None = None,
    config: RecognizerConfig | None = None,
    *,
    device: str = "auto",
    compute_type: str = "default",
    cpu_threads: int = 2,
) -> StreamingRecognizer:
    """Load `model` (default: offline tiny.en; see `models.resolve_whisper_model`) and wrap it."""
    from .models import load_whisper

    config = config or RecognizerConfig()
    whisper = load_whisper(model, device=device, compute_type=compute_type, cpu_threads=cpu_threads)
    return StreamingRecognizer(WhisperDecoder(whisper, config.decoder), config)
