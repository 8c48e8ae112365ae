"""The streaming recogniser end to end: real Whisper tiny.en on real synthesised speech.

Audio is fed faster than real time; the recogniser's decisions depend on audio time only (and
on its measured compute, which only ever makes it decode less often), so they are the ones it
takes in real time. Real-time latency is measured by benchmarks/asr_streaming.py.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from voice_livemind.asr import (
    AsrDecoded,
    RecognizerConfig,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    StreamingRecognizer,
    UtteranceEnded,
    WhisperDecoder,
    WordsCommitted,
    load_whisper,
)
from voice_livemind.asr.vad import VadConfig
from voice_livemind.asr.wer import wer
from voice_livemind.audio.speech_samples import (
    SAMPLE_RATE,
    concat,
    noise,
    silence,
    synthesize,
    trim_silence,
    with_silence,
)

# Ordinary sentences: tiny.en mishears espeak's isolated option letters ("B" -> "the").
QUESTIONS = [
    "What is the largest planet in our solar system?",
    "Who wrote the famous play about a young prince of Denmark?",
    "Water boils at a lower temperature on a high mountain. What is the reason for this?",
]
STORY = (
    "A farmer plants seeds in the spring. The plants grow tall during the summer. "
    "When does the farmer harvest the crop?"
)


@pytest.fixture(scope="module")
def whisper():
    return load_whisper()


def recognizer(whisper, **overrides) -> StreamingRecognizer:
    config = RecognizerConfig(**overrides)
    return StreamingRecognizer(WhisperDecoder(whisper, config.decoder), config)


def feed_all(rec: StreamingRecognizer, audio: np.ndarray, chunk_s: float = 0.03) -> list:
    chunk = round(chunk_s * SAMPLE_RATE)
    events = []
    for i in range(0, len(audio), chunk):
        events.extend(rec.feed(audio[i : i + chunk]))
    return events + rec.finish()


def of_type(events, cls):
    return [e for e in events if isinstance(e, cls)]


def test_questions_are_transcribed_one_utterance_each(whisper):
    parts = [silence(0.5)]
    for question in QUESTIONS:
        parts += [synthesize(question), silence(1.2)]
    events = feed_all(recognizer(whisper), concat(*parts))
    utterances = of_type(events, UtteranceEnded)
    assert len(utterances) == len(QUESTIONS)
    transcript = " ".join(u.text for u in utterances)
    assert wer(" ".join(QUESTIONS), transcript) < 0.25, transcript
    # The committed words are the transcript: nothing is committed twice or lost.
    assert "".join(e.text for e in of_type(events, WordsCommitted)) == "".join(
        u.text for u in utterances
    )


def test_words_are_committed_while_the_speaker_is_still_talking(whisper):
    speech = trim_silence(synthesize(STORY))
    audio = with_silence(speech, before=0.5, after=1.5)
    speech_end = 0.5 + len(speech) / SAMPLE_RATE
    events = feed_all(recognizer(whisper), audio)
    commits = of_type(events, WordsCommitted)
    early = [c for c in commits if c.t < speech_end - 1.0]
    assert len(early) >= 2, [(c.t, c.text) for c in commits]
    # Committed text only grows: each event extends the utterance's committed text.
    for before, after in itertools.pairwise(commits):
        assert after.committed_text == before.committed_text + after.text
    (utterance,) = of_type(events, UtteranceEnded)
    assert wer(STORY, utterance.text) < 0.35, utterance.text


def test_time_waiting_for_a_shared_decoder_counts_in_the_budget(whisper):
    """A stream that waits for the decoder (other streams use it) decodes less often: the wait
    counts like compute in the next interval, and is reported."""
    audio = with_silence(trim_silence(synthesize(STORY)), before=0.5, after=1.5)
    chunk = round(0.1 * SAMPLE_RATE)
    runs, checked = {}, 0
    for queued_s in (0.0, 0.6):
        rec = recognizer(whisper)
        events = []
        for i in range(0, len(audio), chunk):
            # The scheduler's forecast: a cadence decode comes exactly when predicted, in speech
            # (pauses, starts and ends aside: the VAD decides them inside the new audio).
            predicted = rec.would_decode(chunk / SAMPLE_RATE)
            paused = rec.vad.trailing_silence_s > 0
            new = rec.feed(audio[i : i + chunk], queued_s=queued_s)
            updated = any(isinstance(e, AsrDecoded) and e.kind == "update" for e in new)
            turns = (SpeechStarted, SpeechEnded, SpeechResumed)
            paused = paused or rec.vad.trailing_silence_s > 0
            if not (paused or any(isinstance(e, turns) for e in new)):
                assert updated == predicted, (i / SAMPLE_RATE, new)
                checked += 1
            events.extend(new)
        runs[queued_s] = events + rec.finish()
    assert checked > 50
    waited = [e for e in runs[0.6] if isinstance(e, AsrDecoded) and e.queued_s > 0]
    assert waited and all(e.queued_s == 0.6 for e in waited)
    budget = rec.config.max_load
    assert all(e.next_interval_s >= (e.compute_s + 0.6) / budget - 1e-9 for e in waited)
    updates = {
        q: sum(isinstance(e, AsrDecoded) and e.kind == "update" for e in runs[q]) for q in runs
    }
    assert updates[0.6] < updates[0.0], updates
    # Less often, not worse: the pause and end decodes still hear everything.
    (utterance,) = of_type(runs[0.6], UtteranceEnded)
    assert wer(STORY, utterance.text) < 0.35, utterance.text


@pytest.mark.parametrize(
    "audio", [silence(4.0), noise(4.0, level=0.05), noise(4.0, level=0.2, seed=3)]
)
def test_silence_and_noise_produce_nothing_and_cost_nothing(whisper, audio):
    events = feed_all(recognizer(whisper), audio)
    assert events == []  # no speech, no words, no utterance, and no decode at all


def test_end_of_utterance_follows_the_trailing_silence(whisper):
    speech = trim_silence(synthesize(QUESTIONS[0]))
    audio = with_silence(speech, before=0.6, after=2.0)
    speech_end = 0.6 + len(speech) / SAMPLE_RATE
    config = RecognizerConfig()
    events = feed_all(recognizer(whisper), audio)
    kinds = [type(e) for e in events]
    assert kinds.index(SpeechStarted) < kinds.index(WordsCommitted) < kinds.index(SpeechEnded)
    (ended,) = of_type(events, SpeechEnded)
    (utterance,) = of_type(events, UtteranceEnded)
    assert abs(ended.audio_t - speech_end) < 0.35
    # Decided after min_silence_s of silence (t is stream time), and not much later.
    assert utterance.t - speech_end < config.vad.min_silence_s + 0.35
    assert utterance.audio_t == ended.audio_t
    # All words were committed during the pause, before the end was even decided.
    last_commit = of_type(events, WordsCommitted)[-1]
    assert last_commit.reason in ("agreement", "pause") and last_commit.t < utterance.t
    assert last_commit.t - speech_end < 0.5


class BeamRecordingDecoder(WhisperDecoder):
    """The real decoder, noting the beam each decode asked for."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.beams: list[int | None] = []

    def decode(self, audio, prompt="", beam_size=None):
        self.beams.append(beam_size)
        return super().decode(audio, prompt, beam_size)


@pytest.mark.parametrize("final_pass_max_s", [0.0, 30.0])
def test_the_final_pass_hears_the_buffer_unless_too_long(whisper, final_pass_max_s):
    """The decode early in the pause keeps the buffer (left context) up to `final_pass_max_s`;
    pause and end decodes use `final_beam_size`, cadence decodes the decoder's own beam."""
    audio = with_silence(trim_silence(synthesize(STORY)), before=0.5, after=1.5)
    config = RecognizerConfig(final_pass_max_s=final_pass_max_s, final_beam_size=3)
    decoder = BeamRecordingDecoder(whisper, config.decoder)
    events = feed_all(StreamingRecognizer(decoder, config), audio)
    decodes = of_type(events, AsrDecoded)
    assert len(decoder.beams) == len(decodes)
    for decode, beam in zip(decodes, decoder.beams, strict=True):
        assert beam == (None if decode.kind == "update" else 3)
    (utterance,) = of_type(events, UtteranceEnded)
    assert wer(STORY, utterance.text) < 0.3, utterance.text
    # The last pause decode: longer than the tail since the last commit when the buffer is kept.
    last_update = next(d for d in reversed(decodes[:-1]) if d.kind == "update")
    last_pause = next(d for d in reversed(decodes) if d.kind == "pause")
    if final_pass_max_s == 0.0:
        assert last_pause.buffer_s < last_update.buffer_s
    else:
        assert last_pause.buffer_s > last_update.buffer_s


@pytest.mark.parametrize("pause_context_s", [0.0, 5.0])
def test_a_pause_keeps_left_context_for_the_next_phrase(whisper, pause_context_s):
    """A pause commits the phrase before it; the next phrase is decoded with up to
    `pause_context_s` of the audio before the pause, and its words are committed once."""
    audio = with_silence(trim_silence(synthesize(STORY)), before=0.5, after=1.5)
    events = feed_all(recognizer(whisper, pause_context_s=pause_context_s), audio)
    updates = [e for e in of_type(events, AsrDecoded) if e.kind == "update"]
    pauses = [p for p in of_type(events, SpeechPaused) if p.t < updates[-1].t]
    assert len(pauses) >= 2  # after "spring." and after "summer."
    for pause in pauses:
        after = next(e for e in updates if e.t > pause.t)  # the next phrase's first decode
        since_pause = after.t - pause.audio_t
        if pause_context_s == 0.0:
            assert after.buffer_s < since_pause + 0.4
        else:  # the phrase before the pause (>= 1.5 s) is heard again, up to the context
            assert since_pause + 1.5 < after.buffer_s < since_pause + pause_context_s + 1
    (utterance,) = of_type(events, UtteranceEnded)
    assert wer(STORY, utterance.text) < 0.3, utterance.text
    text = utterance.text.lower()
    assert text.count("spring") == text.count("summer") == 1, utterance.text


def test_a_buffer_that_ends_mid_speech_is_decoded_in_one_pass(whisper):
    """faster-whisper decodes an unfinished last segment again as a second window, with no
    prompt and no left context; the decoder keeps it from the first pass instead, and decodes
    again only what a first pass that stopped early did not hear."""
    audio = trim_silence(synthesize(STORY))
    decoder = WhisperDecoder(whisper)
    passes = []
    whisper.encode = lambda features: (passes.append(1), type(whisper).encode(whisper, features))[1]
    cuts_s = (2.3, 3.1, 4.4, 5.2, 6.0)
    try:
        for cut_s in cuts_s:
            buffer = audio[: round(cut_s * SAMPLE_RATE)]
            hypothesis = decoder.decode(buffer, prompt="A farmer plants seeds in the spring.")
            # Heard to the end: the unfinished segment was kept (or the rest decoded again).
            assert cut_s - 1.0 < hypothesis.words[-1].end <= cut_s + 0.05, hypothesis.words
    finally:
        del whisper.encode
    # faster-whisper alone: two passes for all five (the buffer ends mid-speech every time).
    assert len(passes) <= len(cuts_s) + 1, f"{len(passes)} encoder passes for {len(cuts_s)}"


def test_finish_commits_speech_cut_off_mid_utterance(whisper):
    audio = with_silence(trim_silence(synthesize(QUESTIONS[1])), before=0.5)
    events = feed_all(recognizer(whisper), audio)
    (utterance,) = of_type(events, UtteranceEnded)
    assert wer(QUESTIONS[1], utterance.text) < 0.35, utterance.text


@pytest.mark.engine
def test_three_minute_monologue_keeps_per_update_work_bounded(whisper):
    """Short pauses only (one utterance), no pause commits: only time-based trimming keeps the
    buffer, and with it each decode, bounded."""
    sentences = [trim_silence(synthesize(q)) for q in [*QUESTIONS, STORY]]
    parts, seconds = [silence(0.5)], 0.5
    while seconds < 180:
        for sentence in sentences:
            parts += [sentence, silence(0.3)]  # below min_silence_s: the speaker goes on
            seconds += len(sentence) / SAMPLE_RATE + 0.3
    audio = concat(*parts, silence(1.5))
    rec = recognizer(whisper, cadence_s=2.0, pause_commit_s=None)
    events = feed_all(rec, audio, chunk_s=1.0)

    assert len(of_type(events, UtteranceEnded)) == 1
    decodes = of_type(events, AsrDecoded)
    assert max(d.buffer_s for d in decodes) <= rec.config.max_buffer_s + 1.0
    # The work per decode follows the audio decoded (compute times are not compared: other
    # processes on a shared machine make them say nothing about growth).
    first = [d.buffer_s for d in decodes if d.t < 60]
    last = [d.buffer_s for d in decodes if d.t > len(audio) / SAMPLE_RATE - 60]
    assert np.percentile(last, 90) <= 1.5 * np.percentile(first, 90), (first, last)
    late_words = [c for c in of_type(events, WordsCommitted) if c.t > 150]
    assert late_words, "still committing words after two and a half minutes"


def test_a_short_pause_before_a_soft_onset_keeps_one_utterance(whisper):
    """Issue 20: "Options: A.", a 0.41 s pause, a breathy onset: one utterance, all of it."""
    from test_asr_vad import soft_resumption

    from voice_livemind.bench.pause_set import PiperSpeaker

    events = feed_all(recognizer(whisper), soft_resumption(PiperSpeaker(), 0.41))
    assert len(of_type(events, SpeechStarted)) == 1
    assert len(of_type(events, SpeechEnded)) == 1
    (utterance,) = of_type(events, UtteranceEnded)
    text = utterance.text.lower()
    assert "lightest" in text and "oxygen" in text


def test_end_turn_ends_the_utterance_at_the_pause(whisper):
    """An end-of-turn decision ends the utterance 0.3 s into a pause, long before the VAD's
    1.5 s; the next words start a new utterance."""
    first, second = trim_silence(synthesize(QUESTIONS[0])), trim_silence(synthesize(QUESTIONS[1]))
    rec = recognizer(whisper, vad=VadConfig(min_silence_s=1.5))
    events = feed_all_open(rec, concat(silence(0.5), first, silence(0.3)))
    assert not of_type(events, SpeechEnded)
    events += rec.end_turn()
    (ended,) = of_type(events, SpeechEnded)
    (utterance,) = of_type(events, UtteranceEnded)
    speech_end = 0.5 + len(first) / SAMPLE_RATE
    assert abs(ended.audio_t - speech_end) < 0.2
    assert wer(QUESTIONS[0], utterance.text) < 0.3, utterance.text
    assert rec.end_turn() == []  # no pause open any more
    events = feed_all(rec, concat(silence(0.4), second, silence(2.0)))
    (next_utterance,) = of_type(events, UtteranceEnded)
    assert wer(QUESTIONS[1], next_utterance.text) < 0.3, next_utterance.text


def feed_all_open(rec: StreamingRecognizer, audio: np.ndarray, chunk_s: float = 0.03) -> list:
    """Like `feed_all`, without `finish()`: the stream goes on."""
    chunk = round(chunk_s * SAMPLE_RATE)
    return [e for i in range(0, len(audio), chunk) for e in rec.feed(audio[i : i + chunk])]
