"""The shared decode scheduler's order, with jobs that record when they run (fast logic tests).

The worker is held by a job waiting on a gate while the requests under test queue up, so their
order is decided among all of them at once. Real Whisper through the scheduler: see
test_voice_pipeline.py (two pipelines through one scheduler hear what each hears alone).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import numpy as np
import pytest

from voice_livemind.asr.scheduler import URGENT, DecodeScheduler, RecognizerStream, Urgency


@pytest.fixture
def scheduler():
    scheduler = DecodeScheduler()
    yield scheduler
    scheduler.shutdown()


def hold(scheduler: DecodeScheduler) -> threading.Event:
    """Occupy the worker until the returned gate is set."""
    gate, started = threading.Event(), threading.Event()
    scheduler.submit(lambda _waited: (started.set(), gate.wait(10)))
    assert started.wait(10)
    return gate


def record(served: list, name: str):
    return lambda waited: served.append((name, waited))


def test_a_stream_near_its_end_of_utterance_is_served_before_routine_updates(scheduler):
    served: list = []
    gate = hold(scheduler)
    far = [
        scheduler.submit(record(served, f"far{i}"), lambda i=i: Urgency(backlog_s=5.0 + i))
        for i in range(3)
    ]
    near = scheduler.submit(record(served, "near"), lambda: Urgency(near_end=True, backlog_s=0.2))
    gate.set()
    near.result(10)
    for future in far:
        future.result(10)
    assert [name for name, _ in served] == ["near", "far2", "far1", "far0"]
    # Every job learns how long it waited: the one served first waited least.
    waits = [waited for _, waited in served]
    assert all(w > 0 for w in waits) and waits[-1] > waits[0] > 0


def test_among_equals_the_furthest_behind_then_the_oldest_goes_first(scheduler):
    served: list = []
    gate = hold(scheduler)
    futures = [
        scheduler.submit(record(served, "old"), lambda: Urgency(backlog_s=1.0)),
        scheduler.submit(record(served, "behind"), lambda: Urgency(backlog_s=3.0)),
        scheduler.submit(record(served, "new"), lambda: Urgency(backlog_s=1.0)),
        scheduler.submit(record(served, "urgent-old"), lambda: URGENT),
        scheduler.submit(record(served, "urgent-new"), lambda: URGENT),
    ]
    gate.set()
    for future in futures:
        future.result(10)
    assert [name for name, _ in served] == ["urgent-old", "urgent-new", "behind", "old", "new"]


def test_a_stream_not_due_for_a_decode_goes_before_decodes_after_pauses(scheduler):
    """Its turn costs only the VAD, and may find the pause that makes it urgent."""
    served: list = []
    gate = hold(scheduler)
    futures = [
        scheduler.submit(record(served, "decode"), lambda: Urgency(backlog_s=3.0)),
        scheduler.submit(record(served, "cheap"), lambda: Urgency(decodes=False, backlog_s=0.1)),
        scheduler.submit(record(served, "pause"), lambda: Urgency(near_end=True)),
    ]
    gate.set()
    for future in futures:
        future.result(10)
    assert [name for name, _ in served] == ["pause", "cheap", "decode"]


def test_urgency_is_read_when_the_worker_picks_not_when_queued(scheduler):
    served: list = []
    paused = threading.Event()  # the stream's pause begins while its request waits
    gate = hold(scheduler)
    futures = [
        scheduler.submit(record(served, "other"), lambda: Urgency(backlog_s=4.0)),
        scheduler.submit(record(served, "pausing"), lambda: Urgency(near_end=paused.is_set())),
    ]
    paused.set()
    gate.set()
    for future in futures:
        future.result(10)
    assert [name for name, _ in served] == ["pausing", "other"]


@dataclass
class FakeRecognizer:
    """What `RecognizerStream` reads of a recogniser, and a record of what it was fed."""

    near_end: bool = False
    undecoded_s: float = 0.0
    due: bool = True
    fed: list = field(default_factory=list)

    def would_decode(self, new_s: float) -> bool:
        return self.due

    def feed(self, chunk: np.ndarray, queued_s: float = 0.0) -> list:
        self.fed.append((len(chunk), queued_s))
        return []


async def test_audio_arriving_while_a_stream_waits_joins_its_one_decode(scheduler):
    """Routine updates superseded while a stream waits are dropped: one feed of the latest
    buffer, not one queued per tick."""
    rec = FakeRecognizer()
    stream = RecognizerStream(rec, scheduler)
    gate = hold(scheduler)
    stream.put(np.zeros(1600, dtype=np.float32))
    waiting = asyncio.create_task(stream.feed_arrived())
    while scheduler.waiting == 0:
        await asyncio.sleep(0.01)
    stream.put(np.ones(800, dtype=np.float32))
    stream.put(np.ones(800, dtype=np.float32))
    assert stream.urgency() == Urgency(backlog_s=0.2)
    gate.set()
    chunk, events = await waiting
    assert len(chunk) == 3200 and chunk[-1] == 1.0 and events == []
    assert len(rec.fed) == 1 and rec.fed[0][0] == 3200 and rec.fed[0][1] > 0  # it waited
    assert stream.arrived_s == 0.0


async def test_streams_that_keep_talking_take_turns(scheduler):
    """Three routine streams, equally behind, each asking again as soon as it is served: none is
    served twice while another waits."""
    served: list[str] = []

    async def talk(name: str) -> None:
        for _ in range(4):
            await scheduler.run(lambda _waited: served.append(name), lambda: Urgency(backlog_s=1.0))

    gate = hold(scheduler)
    talking = [asyncio.create_task(talk(name)) for name in "abc"]
    while scheduler.waiting < 3:
        await asyncio.sleep(0.01)
    gate.set()
    await asyncio.gather(*talking)
    rounds = [served[i : i + 3] for i in range(0, 12, 3)]
    assert all(sorted(r) == ["a", "b", "c"] for r in rounds), served


def test_a_failing_job_fails_its_caller_only(scheduler):
    def broken(_waited):
        raise ValueError("bad buffer")

    failed = scheduler.submit(broken)
    with pytest.raises(ValueError, match="bad buffer"):
        failed.result(10)
    assert scheduler.submit(lambda waited: "still serving").result(10) == "still serving"


def test_shutdown_cancels_waiting_jobs(scheduler):
    gate = hold(scheduler)
    waiting = scheduler.submit(lambda _waited: "never")
    scheduler.shutdown()
    gate.set()
    assert waiting.cancelled()
    with pytest.raises(RuntimeError, match="shut down"):
        scheduler.submit(lambda _waited: None)
