"""Whisper passes of streams decoding side by side, made in one call.

With several talkers the decode worker is the bottleneck, and one Whisper call over B buffers
costs much less than B calls (benchmarks/RESULTS.md, "Several sessions' buffers in one Whisper
call": 1.5x at 4 buffers, 1.9-2.3x at 8, on 2 cores). So the scheduler runs the jobs of up to
B streams at once, a "round", each job in its own thread (`DecodeScheduler(batcher=...)`). A
job's recogniser decodes as always; its decoder hands the pass to `submit`, which waits until
every job of the round still running is waiting there too (the others have finished), and
then the waiting passes go to the decoder together (`WhisperDecoder.decode_passes`). A job
that needs no decode (the VAD found nothing new) just finishes and is not waited for.

Outside a round (one job at a time, or a thread that is not a job's) a decode runs alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from .agreement import Word
    from .decoder import PassRequest, WhisperDecoder

T = TypeVar("T")


@dataclass(eq=False)
class _Slot:
    decoder: WhisperDecoder
    request: PassRequest
    words: list[Word] = field(default_factory=list)
    error: BaseException | None = None
    done: bool = False


class DecodeBatcher:
    """Gathers the passes of a round's jobs (see the module docstring)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running = 0  # jobs of the current round not finished yet
        self._pending: list[_Slot] = []
        self._member = threading.local()
        self.calls = 0  # Whisper calls made for rounds, and passes in them: for tests, logs
        self.passes = 0

    def start_round(self, jobs: int) -> None:
        """The scheduler is about to run `jobs` jobs side by side (each via `run_member`)."""
        with self._changed:
            self._running = jobs

    def run_member(self, job: Callable[[], T]) -> T:
        """Run one job of the round in this thread; its decodes are gathered."""
        self._member.active = True
        try:
            return job()
        finally:
            self._member.active = False
            with self._changed:
                self._running -= 1
                batch = self._take_if_all_wait()
            if batch:
                self._decode(batch)

    def gathers(self) -> bool:
        """Whether a decode in this thread joins the round's batch."""
        return getattr(self._member, "active", False)

    def submit(self, decoder: WhisperDecoder, request: PassRequest) -> list[Word]:
        """The pass's words, decoded with those of the round's other waiting jobs."""
        slot = _Slot(decoder, request)
        with self._changed:
            self._pending.append(slot)
            batch = self._take_if_all_wait()
        if batch:
            self._decode(batch)
        with self._changed:
            while not slot.done:
                self._changed.wait()
        if slot.error is not None:
            raise slot.error
        return slot.words

    def _take_if_all_wait(self) -> list[_Slot]:
        """Under the lock: the waiting passes, once no running job could add one."""
        if not self._pending or len(self._pending) < self._running:
            return []
        batch, self._pending = self._pending, []
        return batch

    def _decode(self, batch: list[_Slot]) -> None:
        """Decode a batch (in the thread that completed it) and wake its jobs."""
        by_decoder: dict[int, list[_Slot]] = {}
        for slot in batch:
            by_decoder.setdefault(id(slot.decoder), []).append(slot)
        for slots in by_decoder.values():
            try:
                results = slots[0].decoder.decode_passes([s.request for s in slots])
            except BaseException as exc:  # each job gets it: a failure fails its stream only
                for slot in slots:
                    slot.error = exc
            else:
                for slot, words in zip(slots, results, strict=True):
                    slot.words = words
        with self._changed:
            self.calls += 1
            self.passes += len(batch)
            for slot in batch:
                slot.done = True
            self._changed.notify_all()
