"""Speech out: sentence splitting (pure), real espeak-ng synthesis, and the streaming speaker."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from voice_livemind.audio import (
    SentenceSpeaker,
    SentenceSplitter,
    SpeechSynthesizer,
    TtsDone,
    TtsError,
    TtsFirstAudio,
    WavSink,
    clean_for_speech,
    split_sentences,
)
from voice_livemind.audio.frames import resample
from voice_livemind.events import Clock, ErrorEvent, Event

FOX = "The quick brown fox jumps over the lazy dog."


# --- sentence splitting (pure logic) -------------------------------------------------------


def stream_split(text: str, chunk: int) -> list[str]:
    splitter = SentenceSplitter()
    out: list[str] = []
    for i in range(0, len(text), chunk):
        out += splitter.feed(text[i : i + chunk])
    return out + splitter.flush()


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1000])
def test_streamed_deltas_split_the_same_at_any_chunking(chunk: int) -> None:
    text = (
        "The answer is 1.5 meters. It grows, e.g. in spring! Really? "
        'Dr. Smith said "yes." The U.S. agrees. Final answer: B'
    )
    assert stream_split(text, chunk) == [
        "The answer is 1.5 meters.",
        "It grows, e.g. in spring!",
        "Really?",
        'Dr. Smith said "yes."',
        "The U.S. agrees.",
        "Final answer: B",
    ]


@pytest.mark.parametrize("chunk", [1, 2, 5, 1000])
def test_an_answer_statement_is_a_sentence_as_soon_as_its_bracket_closes(chunk: int) -> None:
    text = (
        "The answer is (B) Paris is the capital. So the answer is: (C). Or (Y) or (12)? "
        "The answer is (Y) it is. The answer is (12) in all."
    )
    assert stream_split(text, chunk) == [
        "The answer is (B)",
        "Paris is the capital.",
        "So the answer is: (C)",
        "Or (Y) or (12)?",
        "The answer is (Y)",  # not an option letter: a small model's slip, stated all the same
        "it is.",
        "The answer is (12)",
        "in all.",
    ]
    splitter = SentenceSplitter()
    assert splitter.feed("The answer is (") == []
    assert splitter.feed("A") == []
    assert splitter.feed(")") == ["The answer is (A)"]  # no need to wait for what follows
    assert splitter.feed(".") == [] and splitter.flush() == []  # its full stop is not spoken


def test_a_sentence_is_ready_only_once_the_next_character_arrives() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("It costs 1.") == []  # could still become 1.5
    assert splitter.feed("5 euros.") == []
    assert splitter.feed(" Next") == ["It costs 1.5 euros."]
    assert splitter.flush() == ["Next"]
    assert splitter.flush() == []


def test_line_breaks_end_sentences_and_run_ons_are_cut() -> None:
    assert split_sentences("Steps:\n- first\n- second\n\nDone.") == [
        "Steps:",
        "- first",
        "- second",
        "Done.",
    ]
    long = " ".join(["word,"] * 200)  # 1,200 characters without a full stop
    parts = split_sentences(long)
    assert len(parts) > 1 and all(len(p) <= 300 for p in parts)
    assert " ".join(parts) == long


def test_clean_for_speech_drops_markup() -> None:
    assert clean_for_speech("**Answer:** `B`") == "Answer: B"
    assert clean_for_speech("- item") == "item"
    assert clean_for_speech("---") == ""


# --- real synthesis (pyttsx3 + espeak-ng) ---------------------------------------------------


@pytest.fixture(scope="module")
def synthesizer() -> SpeechSynthesizer:
    try:
        return SpeechSynthesizer(backend="pyttsx3")
    except TtsError as exc:
        pytest.skip(f"pyttsx3/espeak-ng unavailable: {exc}")


def seconds(audio: tuple[np.ndarray, int]) -> float:
    return len(audio[0]) / audio[1]


async def test_synthesize_gives_audible_speech_of_plausible_length(
    synthesizer: SpeechSynthesizer,
) -> None:
    samples, rate = await synthesizer.synthesize(FOX)
    assert synthesizer.backend == "pyttsx3"
    assert rate == synthesizer.sample_rate == 22050
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert 1.5 < len(samples) / rate < 6.0  # nine words at 175 words per minute
    assert float(np.sqrt(np.mean(samples**2))) > 0.02  # not silence


async def test_consecutive_and_back_to_back_calls_each_get_their_own_audio(
    synthesizer: SpeechSynthesizer,
) -> None:
    # pyttsx3's runAndWait returns before espeak has written the file, and a second save queued
    # meanwhile steals the first one's file name: each call must still get its own sentence.
    short = seconds(await synthesizer.synthesize("Yes."))
    long = seconds(await synthesizer.synthesize(FOX + " " + FOX))
    together = await asyncio.gather(
        synthesizer.synthesize("Yes."), synthesizer.synthesize(FOX + " " + FOX)
    )
    assert short < 1.5 < long
    assert [seconds(a) for a in together] == pytest.approx([short, long], rel=0.1)
    assert len((await synthesizer.synthesize(""))[0]) == 0


async def test_rate_option_changes_speed(synthesizer: SpeechSynthesizer) -> None:
    slow = seconds(await SpeechSynthesizer(rate=120, backend="pyttsx3").synthesize(FOX))
    fast = seconds(await SpeechSynthesizer(rate=300, backend="pyttsx3").synthesize(FOX))
    assert fast < 0.7 * slow


async def test_espeak_ng_binary_backend_works() -> None:
    try:
        synthesizer = SpeechSynthesizer(backend="espeak-ng")
    except TtsError as exc:
        pytest.skip(str(exc))
    samples, rate = await synthesizer.synthesize(FOX)
    assert rate == 22050 and 1.5 < len(samples) / rate < 6.0


def test_unknown_voice_fails_at_construction_with_one_line(
    synthesizer: SpeechSynthesizer,
) -> None:
    with pytest.raises(TtsError) as caught:
        SpeechSynthesizer(voice="zz-unknown")
    assert "zz-unknown" in str(caught.value) and "\n" not in str(caught.value)


def test_a_synthesis_that_never_returns_does_not_keep_the_process_alive() -> None:
    # espeak's run loop can wait forever for an end callback; Ctrl-C must still stop a server.
    code = (
        "import threading, time\n"
        "from voice_livemind.audio import tts\n"
        "tts._tts_worker().submit(threading.Event().wait)\n"  # blocks for good
        "after = tts._tts_worker().submit(len, 'ab')\n"
        "time.sleep(0.5)\n"
        "print(after.done())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=60,  # a joined worker thread would hang here
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False"]  # one call at a time: the next one waits its turn


def test_without_any_engine_construction_says_what_to_install(tmp_path: Path) -> None:
    # A fresh process: this one may already hold a working pyttsx3 engine.
    code = (
        "import sys; sys.modules['pyttsx3'] = None\n"  # as if pyttsx3 were not installed
        "from voice_livemind.audio import SpeechSynthesizer, TtsError\n"
        "try:\n    SpeechSynthesizer()\nexcept TtsError as exc:\n    print(exc)\n"
    )
    env = {**os.environ, "PATH": str(tmp_path)}  # and no espeak-ng binary on the PATH
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=Path(__file__).parent.parent,  # the repository root, so the package imports
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    message = done.stdout.strip()
    assert "\n" not in message
    assert "pip install pyttsx3" in message and "apt-get install espeak-ng" in message
    assert "espeak-ng binary not found" in message


# --- the streaming speaker -----------------------------------------------------------------


class ToneSynthesizer:
    """Fake TTS: sentence i becomes 0.1 s at amplitude (i+1)/100, ready after a random delay,
    so later sentences often finish first. Sentences containing "FAIL" raise."""

    rate = 8000

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        self.seen.append(text)
        level = len(self.seen) / 100
        await asyncio.sleep(random.uniform(0, 0.03))
        if "FAIL" in text:
            raise RuntimeError("engine broke\nwith two lines")
        return np.full(self.rate // 10, level, dtype=np.float32), self.rate


async def deltas(*chunks: str, pause: float = 0.0) -> AsyncIterator[str]:
    for chunk in chunks:
        await asyncio.sleep(pause)
        yield chunk


def read_levels(path: Path, per_sentence: int) -> list[float]:
    with wave.open(str(path), "rb") as wav:
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2") / 32767
    return [round(float(pcm[i]), 2) for i in range(0, len(pcm), per_sentence)]


async def test_speaker_writes_sentences_in_order_and_reports_times(tmp_path: Path) -> None:
    fake, events = ToneSynthesizer(), []
    clock = Clock()
    chunks = ["One. Tw", "o! Three", "? Four", " and 1.", "5. Five", " six"]
    with WavSink(tmp_path / "answer.wav") as sink:
        speaker = SentenceSpeaker(fake, sink, clock=clock, on_event=events.append)
        report = await speaker.speak(deltas(*chunks, pause=0.02), turn=3)
    assert report.text == "".join(chunks)
    assert report.sentences == ("One.", "Two!", "Three?", "Four and 1.5.", "Five six")
    assert read_levels(tmp_path / "answer.wav", 800) == [0.01, 0.02, 0.03, 0.04, 0.05]
    assert report.audio_s == pytest.approx(0.5) and report.errors == ()
    assert [type(e) for e in events] == [TtsFirstAudio, TtsDone]
    first, done = events
    assert first.text == "One." and first.turn == done.turn == 3
    assert 0 < report.first_audio_t == first.t <= report.done_t == done.t <= clock.now()
    assert done.to_dict()["type"] == "tts_done" and done.sentences == 5


async def test_speech_starts_while_the_answer_still_streams() -> None:
    from voice_livemind.audio import NullSink

    clock = Clock()
    report = await SentenceSpeaker(ToneSynthesizer(), NullSink(), clock=clock).speak(
        deltas("First sentence. ", "Second", " sentence.", pause=0.2)
    )
    assert report.first_audio_t is not None
    assert report.first_audio_t < 0.4 < report.done_t  # spoken before the last delta arrived


async def test_a_first_sentence_prepared_ahead_is_spoken_without_synthesising_again(
    tmp_path: Path,
) -> None:
    fake, events = ToneSynthesizer(), []
    with WavSink(tmp_path / "answer.wav") as sink:
        speaker = SentenceSpeaker(fake, sink, on_event=events.append)
        discarded = speaker.prepare_first_sentence()  # an earlier pause's answer
        for text in ("The answer is (C", ") because", " ..."):
            discarded(text)
        prepare = speaker.prepare_first_sentence()  # the next pause's: the end
        for text in ("The answer is (B", ") because", " it is."):
            prepare(text)
        await asyncio.sleep(0.1)  # the end of speech is confirmed meanwhile
        assert fake.seen == ["The answer is (C)", "The answer is (B)"]
        report = await speaker.speak(deltas("The answer is (B", ") because", " it is."))
    assert fake.seen == ["The answer is (C)", "The answer is (B)", "because it is."]
    assert report.sentences == ("The answer is (B)", "because it is.")
    assert read_levels(tmp_path / "answer.wav", 800) == [0.02, 0.03]  # B's audio, then the rest
    first = events[0]
    assert isinstance(first, TtsFirstAudio) and first.prepared


async def test_a_failed_sentence_is_reported_and_the_rest_still_spoken(tmp_path: Path) -> None:
    events: list[Event] = []
    with WavSink(tmp_path / "answer.wav") as sink:
        report = await SentenceSpeaker(ToneSynthesizer(), sink, on_event=events.append).speak(
            deltas("Fine. This will FAIL. Also fine.")
        )
    assert report.text == "Fine. This will FAIL. Also fine."  # the caller still has it all
    assert report.sentences == ("Fine.", "Also fine.")
    assert len(report.errors) == 1 and "\n" not in report.errors[0]
    assert read_levels(tmp_path / "answer.wav", 800) == [0.01, 0.03]
    assert [type(e) for e in events] == [TtsFirstAudio, ErrorEvent, TtsDone]
    assert events[-1].failed == 1


async def test_cancelling_a_speech_stops_it() -> None:
    from voice_livemind.audio import NullSink

    sink = NullSink()
    speaker = SentenceSpeaker(ToneSynthesizer(), sink)
    task = asyncio.create_task(speaker.speak(deltas("One. ", "Two. ", "Three. ", pause=0.2)))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.3)
    assert sink.seconds_written == pytest.approx(0.1)  # only "One." was spoken


async def test_interrupt_stops_speech_mid_answer_and_while_audio_still_plays() -> None:
    from voice_livemind.audio import NullSink, SpeechInterrupted

    events: list[Event] = []
    sink, clock = NullSink(), Clock()
    speaker = SentenceSpeaker(ToneSynthesizer(), sink, clock=clock, on_event=events.append)
    assert not speaker.speaking and speaker.interrupt() is False  # nothing to stop
    task = asyncio.create_task(speaker.speak(deltas("One. ", "Two. ", "Three. ", pause=0.2), 4))
    await asyncio.sleep(0.3)
    assert speaker.speaking and speaker.interrupt() is True
    report = await task  # returns what was spoken, does not raise
    assert report.sentences == ("One.",) and sink.seconds_written == pytest.approx(0.1)
    kinds = [type(e) for e in events]
    assert kinds == [TtsFirstAudio, SpeechInterrupted, TtsDone]
    assert events[-1].interrupted and events[1].turn == 4
    # Fully sent but not yet heard (a client plays at its own pace): still interruptible.
    events.clear()
    await speaker.speak(deltas("A sentence."), turn=5)
    assert speaker.speaking  # 0.1 s of audio, handed out just now
    assert speaker.interrupt() and not speaker.speaking
    assert events[-1].type == "speech_interrupted" and 0 < events[-1].unplayed_s <= 0.1


async def test_speaker_with_real_tts_writes_every_sentence(
    synthesizer: SpeechSynthesizer, tmp_path: Path
) -> None:
    answer = "Sheep are counted. The farmer has 17 sheep! Is that right? Yes, about 1.5 dozen."
    pieces = [answer[i : i + 5] for i in range(0, len(answer), 5)]
    with WavSink(tmp_path / "answer.wav") as sink:
        report = await SentenceSpeaker(synthesizer, sink).speak(deltas(*pieces))
    assert report.sentences == tuple(split_sentences(answer)) and len(report.sentences) == 4
    alone = [seconds(await synthesizer.synthesize(s)) for s in report.sentences]
    with wave.open(str(tmp_path / "answer.wav"), "rb") as wav:
        assert wav.getframerate() == 22050
        assert wav.getnframes() / 22050 == pytest.approx(sum(alone), rel=0.05)
    assert report.audio_s == pytest.approx(sum(alone), rel=0.05)


# --- the neural voice (piper) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def piper() -> SpeechSynthesizer:
    try:
        return SpeechSynthesizer(backend="piper")
    except TtsError as exc:
        pytest.skip(f"piper unavailable: {exc}")


async def test_piper_speech_is_understood_by_whisper(piper: SpeechSynthesizer) -> None:
    from voice_livemind.asr import load_whisper
    from voice_livemind.asr.wer import wer

    text = (
        "Water boils at a lower temperature on a high mountain, because the air is thinner. "
        "What is the reason for the lower boiling point?"
    )
    fast = SpeechSynthesizer(backend="piper", output_rate=16_000)
    samples, rate = await fast.synthesize(text)
    assert rate == 16_000 and samples.dtype == np.float32
    segments, _ = load_whisper().transcribe(samples, language="en", beam_size=1)
    heard = " ".join(s.text for s in segments)
    assert wer(text, heard) <= 0.1, heard


async def test_piper_voice_names_itself_and_follows_the_rate(piper: SpeechSynthesizer) -> None:
    assert (piper.backend, piper.voice, piper.rate, piper.sample_rate) == (
        "piper",
        "en_US-joe-medium",
        None,  # the voice's own pace
        22050,
    )
    slow = seconds(await SpeechSynthesizer(rate=100, backend="piper").synthesize(FOX))
    fast = seconds(await SpeechSynthesizer(rate=250, backend="piper").synthesize(FOX))
    assert fast < 0.6 * slow
    assert len((await piper.synthesize("  "))[0]) == 0
    # No sampling noise: the same text is the same audio, here and on any machine.
    first, again = piper.synthesize_blocking(FOX)[0], (await piper.synthesize(FOX))[0]
    assert np.array_equal(first, again)


def test_piper_voice_file_that_is_missing_fails_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(TtsError, match=r"no such file") as caught:
        SpeechSynthesizer(backend="piper", voice=str(tmp_path / "nobody.onnx"))
    assert "\n" not in str(caught.value)
    with pytest.raises(TtsError, match=r"unknown speech backend 'festival'"):
        SpeechSynthesizer(backend="festival")  # type: ignore[arg-type]


def test_without_piper_construction_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['piper'] = None\n"  # as if piper-tts were not installed
        "from voice_livemind.audio import SpeechSynthesizer, TtsError\n"
        "try:\n    SpeechSynthesizer(backend='piper')\nexcept TtsError as exc:\n    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "voice-livemind[piper]" in done.stdout and done.stdout.count("\n") == 1


async def test_speaker_streams_sentences_in_the_piper_voice(
    piper: SpeechSynthesizer, tmp_path: Path
) -> None:
    answer = "Sheep are counted. The farmer has 17 sheep! Is that right? Yes, about 1.5 dozen."
    pieces = [answer[i : i + 5] for i in range(0, len(answer), 5)]
    with WavSink(tmp_path / "answer.wav") as sink:
        report = await SentenceSpeaker(piper, sink).speak(deltas(*pieces))
    assert report.sentences == tuple(split_sentences(answer)) and not report.errors
    assert report.first_audio_t is not None and report.first_audio_t < report.done_t
    with wave.open(str(tmp_path / "answer.wav"), "rb") as wav:
        assert wav.getframerate() == 22050
        assert wav.getnframes() / 22050 == pytest.approx(report.audio_s, rel=0.01)
    assert 3.0 < report.audio_s < 12.0  # 16 words


def test_resampling_keeps_speech_band_and_removes_what_16_khz_cannot_hold() -> None:
    t = np.arange(22050 * 2) / 22050
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    out = resample(tone, 22050, 16_000)
    assert out.dtype == np.float32 and len(out) == pytest.approx(32_000, abs=2)
    spectrum = np.abs(np.fft.rfft(out))
    assert np.argmax(spectrum) * 16_000 / len(out) == pytest.approx(440, abs=1)
    # 10 kHz is above 16 kHz's Nyquist limit: filtered out, not folded back to 6 kHz
    high = resample(np.sin(2 * np.pi * 10_000 * t).astype(np.float32), 22050, 16_000)
    assert float(np.sqrt(np.mean(high**2))) < 0.01
    assert np.array_equal(resample(tone, 16_000, 16_000), tone)  # same rate: untouched
    assert len(resample(tone[:0], 22050)) == 0
