"""One Whisper decode budget for every stream of a process: who decodes next.

Whisper's model is shared and decodes one buffer at a time, so streams that talk at once queue
for it. In arrival order, a stream about to end its utterance would wait behind the others'
routine cadence updates, and its user would wait for the answer; so the queue is ordered:

- The most urgent first: a stream whose end of utterance may be near (speech has paused: its
  next decode is the pause's final pass or the end's; `finish`, `end_turn`, the end-of-turn
  model) before a routine cadence update.
- Then the streams whose new audio is not due for a decode: their turn costs only the VAD (a
  few milliseconds) and may find the pause that makes them urgent.
- Among equals, the stream furthest behind its audio (`Urgency.backlog_s`), then the oldest
  request: no stream waits while others are served twice.
- Urgency is read when the worker picks, not when a request is queued: a stream whose pause
  began while it waited is served as the pause it now is.
- A stream has at most one request waiting, and its audio is taken when its decode starts
  (`RecognizerStream`): the routine updates that would have followed while it waited are
  superseded by that one decode of the latest buffer, never queued behind each other.

With a `DecodeBatcher`, the worker takes up to `batch` of the most urgent jobs at once and runs
them side by side, one thread each, so that their Whisper passes are made in one call
(`batching.py`); the round ends when its last job does. Without one, jobs run one at a time.

The recogniser keeps deciding what to decode and when; the scheduler orders the streams. Each
job is told how long it waited: the recogniser counts that wait in its budget (a stream that
waits for the shared worker decodes less often, so the box as a whole stays within real time)
and reports it (`AsrDecoded.queued_s`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from ..events import Event
from .batching import DecodeBatcher
from .recognizer import StreamingRecognizer
from .vad import SAMPLE_RATE

T = TypeVar("T")


@dataclass(frozen=True)
class Urgency:
    """How badly a stream needs the worker now."""

    near_end: bool = False  # the end of an utterance may be near: served before routine work
    decodes: bool = True  # the job is expected to run Whisper (False: it is cheap)
    backlog_s: float = 0.0  # audio the stream has not decoded yet, seconds


URGENT = Urgency(near_end=True)


@dataclass
class _Request:
    job: Callable[[float], Any]  # called with the seconds it waited
    urgency: Callable[[], Urgency]
    queued_at: float
    order: int
    future: concurrent.futures.Future


class DecodeScheduler:
    """One worker running the most urgent waiting job first (see the module docstring).

    Jobs run one at a time in the worker's thread, or, with a `batcher`, up to `batch` at once
    in a pool of threads; a stream has one job at a time, so each recogniser is used by one
    thread at a time.
    """

    def __init__(
        self, name: str = "asr", batcher: DecodeBatcher | None = None, batch: int = 1
    ) -> None:
        if batch < 1 or (batch > 1 and batcher is None):
            raise ValueError("a batch of more than one job needs a DecodeBatcher")
        self._waiting: list[_Request] = []
        self._ready = threading.Condition()
        self._order = itertools.count()
        self._closed = False
        self.batcher = batcher
        self.batch = batch  # jobs run side by side at most
        self._pool = (
            concurrent.futures.ThreadPoolExecutor(batch, thread_name_prefix=f"{name}-job")
            if batch > 1
            else None
        )
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(
        self, job: Callable[[float], T], urgency: Callable[[], Urgency] = Urgency
    ) -> concurrent.futures.Future[T]:
        """Queue `job` (called in the worker with the seconds it waited); `urgency` is read, in
        the worker, each time it picks the next job."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        request = _Request(job, urgency, time.perf_counter(), next(self._order), future)
        with self._ready:
            if self._closed:
                raise RuntimeError("the decode scheduler is shut down")
            self._waiting.append(request)
            self._ready.notify()
        return future

    async def run(self, job: Callable[[float], T], urgency: Callable[[], Urgency] = Urgency) -> T:
        """`submit`, awaited from the event loop."""
        return await asyncio.wrap_future(self.submit(job, urgency))

    @property
    def waiting(self) -> int:
        """Jobs queued, not started."""
        with self._ready:
            return len(self._waiting)

    def shutdown(self) -> None:
        """Cancel the waiting jobs and stop the worker after the running ones."""
        with self._ready:
            self._closed = True
            for request in self._waiting:
                request.future.cancel()
            self._waiting.clear()
            self._ready.notify()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def _work(self) -> None:
        while requests := self._next():
            requests = [r for r in requests if r.future.set_running_or_notify_cancel()]
            if len(requests) == 1 or self._pool is None or self.batcher is None:
                for request in requests:
                    _run(request)
                continue
            batcher = self.batcher
            batcher.start_round(len(requests))
            round_ = [self._pool.submit(batcher.run_member, _runner(r)) for r in requests]
            concurrent.futures.wait(round_)

    def _next(self) -> list[_Request]:
        """The most urgent waiting jobs, up to `batch` of them; [] once shut down."""
        with self._ready:
            while not self._waiting and not self._closed:
                self._ready.wait()
            if self._closed:
                return []
            best = sorted(self._waiting, key=_rank)[: self.batch]
            for request in best:
                self._waiting.remove(request)
            return best


def _run(request: _Request) -> None:
    try:
        result = request.job(time.perf_counter() - request.queued_at)
    except BaseException as exc:  # the caller gets it: a failure fails its stream only
        request.future.set_exception(exc)
    else:
        request.future.set_result(result)


def _runner(request: _Request) -> Callable[[], None]:
    return lambda: _run(request)


def _rank(request: _Request) -> tuple[bool, bool, float, int]:
    try:
        urgency = request.urgency()
    except Exception:  # a broken urgency must not stop the worker: the job still runs, last
        urgency = Urgency(backlog_s=float("-inf"))
    return (not urgency.near_end, urgency.decodes, -urgency.backlog_s, request.order)


class RecognizerStream:
    """One stream's recogniser behind a shared `DecodeScheduler`.

    Audio is `put` as it arrives (from any thread); `feed_arrived` asks the scheduler for a turn
    and feeds the recogniser, when the turn comes, all the audio that arrived until then.
    Await one call at a time per stream: the recogniser's work must stay in order.
    """

    def __init__(self, recognizer: StreamingRecognizer, scheduler: DecodeScheduler) -> None:
        self.recognizer = recognizer
        self.scheduler = scheduler
        self._arrived: list[np.ndarray] = []
        self._arrived_samples = 0
        self._lock = threading.Lock()

    def put(self, samples: np.ndarray) -> None:
        """Audio that arrived (16 kHz mono float32)."""
        with self._lock:
            self._arrived.append(samples)
            self._arrived_samples += len(samples)

    @property
    def arrived_s(self) -> float:
        """Audio waiting to be fed, seconds."""
        return self._arrived_samples / SAMPLE_RATE

    def urgency(self) -> Urgency:
        rec, arrived_s = self.recognizer, self.arrived_s
        return Urgency(
            near_end=rec.near_end,
            decodes=rec.would_decode(arrived_s),
            backlog_s=rec.undecoded_s + arrived_s,
        )

    async def feed_arrived(self) -> tuple[np.ndarray, list[Event]]:
        """Feed the recogniser what has arrived when the scheduler gets to this stream; the
        audio fed and the events it caused."""
        return await self.scheduler.run(self._feed_arrived, self.urgency)

    async def call(self, fn: Callable[[], T], urgency: Callable[[], Urgency] = lambda: URGENT) -> T:
        """Run `fn` in the worker, in this stream's order (default: as urgent: `finish`,
        `end_turn` and the end-of-turn model decide when an answer starts)."""
        return await self.scheduler.run(lambda _waited: fn(), urgency)

    def _feed_arrived(self, waited_s: float) -> tuple[np.ndarray, list[Event]]:
        with self._lock:
            parts, self._arrived, self._arrived_samples = self._arrived, [], 0
        if not parts:
            return np.zeros(0, dtype=np.float32), []
        chunk = np.concatenate(parts)
        return chunk, self.recognizer.feed(chunk, queued_s=waited_s)
