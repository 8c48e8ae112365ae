"""The speech cache: content-hash keys (text and voice), hits and misses, corrupt files made
again; with a counting fake synthesiser for the logic, and real voices (espeak-ng, piper) once."""

from __future__ import annotations

import numpy as np
import pytest

from voice_livemind.audio import SpeechSynthesizer, TtsError
from voice_livemind.audio.frames import SAMPLE_RATE
from voice_livemind.audio.speech_cache import PIECE_GAP_S, SpeechCache, speech_pieces

TEXT = "The sun is a star. It is very hot, and it is far away from us."


class CountingSynthesizer:
    """A tone per piece, 0.4 s a word; counts what it was asked to say."""

    def __init__(
        self, backend: str = "pyttsx3", voice: str = "en-us", rate: int | None = 150
    ) -> None:
        self.backend, self.voice, self.rate = backend, voice, rate
        self.sample_rate = 22_050
        self.said: list[str] = []

    def synthesize_blocking(self, text: str) -> tuple[np.ndarray, int]:
        self.said.append(text)
        n = round(0.4 * len(text.split()) * self.sample_rate)
        tone = 0.3 * np.sin(np.arange(n) * 2 * np.pi * 220 / self.sample_rate)
        pad = np.zeros(500, np.float32)
        return np.concatenate([pad, tone.astype(np.float32), pad]), self.sample_rate


async def test_second_request_is_a_hit_and_synthesises_nothing(tmp_path):
    fake = CountingSynthesizer()
    cache = SpeechCache(fake, root=tmp_path)
    first = await cache.speech(TEXT)
    calls = len(fake.said)
    again = cache.speech_blocking(TEXT)  # the blocking form reads the same file
    assert calls == 2 and len(fake.said) == calls  # two sentences, then nothing more
    assert (cache.misses, cache.hits) == (1, 1)
    np.testing.assert_allclose(first, again)
    # 16 kHz, the pieces' padding trimmed and one pause between them
    words = len(TEXT.split())
    assert len(first) / SAMPLE_RATE == pytest.approx(0.4 * words + PIECE_GAP_S, abs=0.02)


def test_the_key_covers_text_backend_voice_and_rate(tmp_path):
    variants = [
        (TEXT, CountingSynthesizer()),
        (TEXT + " ", CountingSynthesizer()),
        (TEXT, CountingSynthesizer(voice="en-gb")),
        (TEXT, CountingSynthesizer(rate=175)),
        (TEXT, CountingSynthesizer(rate=None)),
        (TEXT, CountingSynthesizer(backend="other")),
    ]
    keys = {SpeechCache(synth, root=tmp_path).key(text) for text, synth in variants}
    assert len(keys) == len(variants)
    # the same content is the same key, whatever cache object asks
    assert SpeechCache(CountingSynthesizer(), root=tmp_path).key(TEXT) == SpeechCache(
        CountingSynthesizer(), root=tmp_path / "other"
    ).key(TEXT)


@pytest.mark.parametrize(
    "damage", [b"", b"RIFF-not-a-wav", "truncated"], ids=["empty", "garbage", "cut"]
)
async def test_a_corrupt_cache_file_is_synthesised_again(tmp_path, damage):
    fake = CountingSynthesizer()
    cache = SpeechCache(fake, root=tmp_path)
    good = await cache.speech(TEXT)
    path = cache.path(TEXT)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 5] if damage == "truncated" else damage)
    before = len(fake.said)
    again = await cache.speech(TEXT)
    assert len(fake.said) == before + 2 and cache.misses == 2
    np.testing.assert_allclose(good, again)
    assert path.read_bytes() == data  # repaired on disk


def test_long_text_is_spoken_in_pieces_at_sentence_and_clause_ends():
    text = (
        "One two three four five six seven eight nine ten eleven twelve, thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty twenty-one twenty-two. Short."
    )
    pieces = speech_pieces(text, max_words=20)
    assert pieces[-1] == "Short." and " ".join(pieces) == text
    assert pieces[0].endswith("twelve,") and all(len(p.split()) <= 20 for p in pieces)
    assert speech_pieces(text, max_words=None) == [text.removesuffix(" Short."), "Short."]


def test_only_pyttsx3_gets_sentences_cut_at_clauses(tmp_path):
    long = "One two three four five six seven eight nine ten eleven, " * 3 + "twelve. Yes."
    for backend, pieces in [("pyttsx3", 5), ("piper", 2)]:
        fake = CountingSynthesizer(backend=backend)
        SpeechCache(fake, root=tmp_path / backend).speech_blocking(long)
        assert len(fake.said) == pieces, backend


@pytest.mark.parametrize("voice", ["espeak", "piper"])
async def test_real_speech_is_cached_on_disk_per_voice(tmp_path, voice):
    try:
        synthesizer = (
            SpeechSynthesizer(150, "gmw/en-us")
            if voice == "espeak"
            else SpeechSynthesizer(backend="piper")
        )
    except TtsError as exc:
        pytest.skip(f"{voice} unavailable: {exc}")
    cache = SpeechCache(synthesizer, root=tmp_path)
    text = "Water boils at a lower temperature on a high mountain."
    audio = await cache.speech(text)
    assert 1.5 < len(audio) / SAMPLE_RATE < 8 and np.abs(audio).max() > 0.05
    assert cache.path(text).is_file()
    assert await cache.speech(text) is not None
    assert cache.hits == 1


def test_test_speech_comes_in_two_voices_cached_apart(tmp_path):
    from voice_livemind.audio import speech_samples

    text = "My sister is older than my brother."
    keys = {voice: speech_samples.speech_cache(voice).key(text) for voice in ("piper", "espeak")}
    assert keys["piper"] != keys["espeak"]
    assert speech_samples.speech_cache().synthesizer.backend == "piper"  # the default voice
    piper, espeak = (speech_samples.synthesize(text, voice=v) for v in ("piper", "espeak"))
    for audio in (piper, espeak):  # 16 kHz, trimmed: speech from the first sample to the last
        assert 1.0 < len(audio) / SAMPLE_RATE < 5 and abs(audio[0]) > 0 and abs(audio[-1]) > 0
    speech_samples.synthesize(text, tmp_path / "said.wav")
    assert (tmp_path / "said.wav").stat().st_size > 16_000
    with pytest.raises(ValueError, match=r"unknown test voice 'festival'"):
        speech_samples.speech_cache("festival")  # type: ignore[arg-type]
