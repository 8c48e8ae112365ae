"""Passes of streams decoding side by side, made in one call: the gathering logic with a fake
decoder (fast), and real Whisper on real synthesised speech (the same words as alone)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from voice_livemind.asr.batching import DecodeBatcher
from voice_livemind.asr.decoder import PassRequest, WhisperDecoder
from voice_livemind.asr.scheduler import URGENT, DecodeScheduler, Urgency


class FakeDecoder:
    """Records the passes of each call; a pass's "words" are its prompt."""

    def __init__(self, batcher: DecodeBatcher, fail: bool = False) -> None:
        self.batcher = batcher
        self.calls: list[list[str]] = []
        self.fail = fail

    def decode(self, prompt: str) -> list[str]:
        request = PassRequest(np.zeros(16), prompt, 1)
        if self.batcher.gathers():
            return self.batcher.submit(self, request)  # type: ignore[arg-type]
        return self.decode_passes([request])[0]

    def decode_passes(self, requests):
        self.calls.append([r.prompt for r in requests])
        if self.fail:
            raise RuntimeError("whisper failed")
        return [[r.prompt] for r in requests]


@pytest.fixture
def batcher():
    return DecodeBatcher()


@pytest.fixture
def scheduler(batcher):
    scheduler = DecodeScheduler(batcher=batcher, batch=4)
    yield scheduler
    scheduler.shutdown()


def hold(scheduler: DecodeScheduler) -> threading.Event:
    """Occupy the worker until the returned gate is set (urgent: it goes first)."""
    gate, started = threading.Event(), threading.Event()
    scheduler.submit(lambda _waited: (started.set(), gate.wait(10)), lambda: URGENT)
    assert started.wait(10)
    return gate


def test_streams_waiting_together_are_decoded_in_one_call(scheduler, batcher):
    decoder = FakeDecoder(batcher)
    gate = hold(scheduler)
    futures = [scheduler.submit(lambda _w, n=n: decoder.decode(f"s{n}")) for n in range(3)]
    gate.set()
    assert [f.result(10) for f in futures] == [["s0"], ["s1"], ["s2"]]
    assert [sorted(call) for call in decoder.calls] == [["s0", "s1", "s2"]]


def test_a_job_with_nothing_to_decode_does_not_hold_the_others(scheduler, batcher):
    decoder = FakeDecoder(batcher)
    gate = hold(scheduler)
    quiet = scheduler.submit(lambda _w: "vad only")
    talking = [scheduler.submit(lambda _w, n=n: decoder.decode(f"s{n}")) for n in range(2)]
    gate.set()
    assert quiet.result(10) == "vad only"
    assert [f.result(10) for f in talking] == [["s0"], ["s1"]]
    assert len(decoder.calls) == 1


def test_a_second_pass_is_made_once_the_others_are_done_or_waiting(scheduler, batcher):
    decoder = FakeDecoder(batcher)
    gate = hold(scheduler)
    twice = scheduler.submit(lambda _w: decoder.decode("a1") + decoder.decode("a2"))
    once = scheduler.submit(lambda _w: decoder.decode("b1"))
    gate.set()
    assert twice.result(10) == ["a1", "a2"] and once.result(10) == ["b1"]
    assert [sorted(call) for call in decoder.calls] == [["a1", "b1"], ["a2"]]


def test_a_failed_call_fails_the_jobs_in_it_and_the_worker_goes_on(scheduler, batcher):
    failing = FakeDecoder(batcher, fail=True)
    gate = hold(scheduler)
    futures = [scheduler.submit(lambda _w, n=n: failing.decode(f"s{n}")) for n in range(2)]
    gate.set()
    for future in futures:
        with pytest.raises(RuntimeError, match="whisper failed"):
            future.result(10)
    assert scheduler.submit(lambda _w: "next").result(10) == "next"


def test_a_round_takes_the_most_urgent_streams(batcher):
    scheduler = DecodeScheduler(batcher=batcher, batch=2)
    try:
        decoder = FakeDecoder(batcher)
        gate = hold(scheduler)
        routine = [
            scheduler.submit(lambda _w, n=n: decoder.decode(f"r{n}"), lambda: Urgency())
            for n in range(2)
        ]
        urgent = [scheduler.submit(lambda _w, n=n: decoder.decode(f"u{n}"), lambda: URGENT)
                  for n in range(2)]  # fmt: skip
        gate.set()
        for future in routine + urgent:
            future.result(10)
        assert [sorted(call) for call in decoder.calls] == [["u0", "u1"], ["r0", "r1"]]
    finally:
        scheduler.shutdown()


def test_a_batch_needs_a_batcher():
    with pytest.raises(ValueError, match="DecodeBatcher"):
        DecodeScheduler(batch=2)


# -- real Whisper --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def whisper():
    from voice_livemind.asr.models import load_whisper

    return load_whisper()


def test_passes_made_together_hear_the_words_each_hears_alone(whisper):
    from voice_livemind.audio.speech_samples import synthesize, trim_silence

    texts = [
        "Which gas do plants absorb from the air?",
        "What is the boiling point of water at sea level?",
        "Name the largest planet in our solar system.",
    ]
    clips = [trim_silence(synthesize(t)) for t in texts]
    decoder = WhisperDecoder(whisper)
    requests = [
        PassRequest(clips[0], "", 1),
        PassRequest(clips[1], "A quiz about science.", 1),
        PassRequest(clips[2], "", 1),
        PassRequest(clips[0], "", 1),  # the same audio twice in one call
    ]
    alone = [decoder.decode_passes([r])[0] for r in requests]
    together = decoder.decode_passes(requests)
    words = lambda ws: [w.text.lower().strip(".,?!") for w in ws]  # noqa: E731
    for one, many in zip(alone, together, strict=True):
        assert words(many) == words(one)
        assert all(abs(a.start - b.start) < 0.3 for a, b in zip(one, many, strict=True))
    assert "planet" in words(together[2]) and words(together[3]) == words(together[0])


def test_long_prompts_of_different_lengths_are_cut_to_one_length_and_batched(whisper, monkeypatch):
    from voice_livemind.audio.speech_samples import synthesize, trim_silence

    decoder = WhisperDecoder(whisper)
    together = []
    original = decoder._passes_together

    def spy(requests, earlier):
        together.append([len(tokens) for tokens in earlier])
        return original(requests, earlier)

    monkeypatch.setattr(decoder, "_passes_together", spy)
    earlier = (
        "We are reading quiz questions about science and the natural world to a class of "
        "students who are learning about water, weather, plants, animals and the planets. "
    )
    requests = [
        PassRequest(trim_silence(synthesize("What is the boiling point of water?")), earlier, 1),
        PassRequest(trim_silence(synthesize("Name the largest planet.")), earlier * 2, 1),
    ]
    first, second = decoder.decode_passes(requests)
    (lengths,) = together
    assert lengths[0] == lengths[1] >= 24
    assert "boiling" in " ".join(w.text.lower() for w in first)
    assert "planet" in " ".join(w.text.lower() for w in second)


def test_serve_shares_one_batcher_between_its_decoder_and_scheduler():
    from scripted_engine import ScriptedEngine

    from voice_livemind.livemind.config import SessionConfig
    from voice_livemind.server.app import load_shared

    shared = load_shared(ScriptedEngine(), SessionConfig(), asr_batch=3, speech=False)
    try:
        assert isinstance(shared.decoder.batcher, DecodeBatcher)
        assert shared.asr_scheduler.batcher is shared.decoder.batcher
        assert shared.asr_scheduler.batch == 3
    finally:
        shared.asr_scheduler.shutdown()
    alone = load_shared(ScriptedEngine(), SessionConfig(), speech=False)
    assert alone.decoder.batcher is None and alone.asr_scheduler.batch == 1
    alone.asr_scheduler.shutdown()
