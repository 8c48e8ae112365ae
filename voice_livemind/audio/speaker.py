"""Speaking an answer while it streams: deltas -> sentences -> speech -> sink, in order.

Sentences are synthesised as soon as they complete (on the TTS worker thread) while later text
keeps streaming and earlier audio plays. The first sentence of an answer prepared during a pause
can be synthesised even earlier (`prepare_first_sentence`), so that if that answer is kept its
audio is ready the moment the user is done. Speech is a courtesy on top of the text: a sentence
that cannot be synthesised or played is counted and reported, never raised, so the caller
always gets the full answer text back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..events import Clock, ErrorEvent, Event
from .errors import one_line
from .events import SpeechInterrupted, TtsDone, TtsFirstAudio
from .sentences import SentenceSplitter, clean_for_speech
from .sinks import AudioSink


@dataclass(frozen=True)
class SpeechReport:
    """What one `speak` call did; times are on the speaker's `Clock`."""

    text: str  # the whole answer as received, spoken or not
    sentences: tuple[str, ...]  # sentences spoken, in order
    first_audio_t: float | None  # when the first audio went to the sink (None: nothing spoken)
    done_t: float  # when the last write returned (or the stream ended, if nothing was spoken)
    audio_s: float  # seconds of audio written
    errors: tuple[str, ...]  # one line per sentence that failed


class Synthesizer(Protocol):
    """What the speaker needs from TTS (`SpeechSynthesizer`, or a fake in tests)."""

    async def synthesize(self, text: str) -> tuple[np.ndarray, int]: ...


# A sentence, its synthesis, and whether that was prepared ahead (`prepare_first_sentence`).
_Synthesis = tuple[str, "asyncio.Future[tuple[np.ndarray, int]]", bool]
_PREPARED_MAX = 4  # sentences synthesised ahead and not (yet) spoken, kept for later


@dataclass
class _Progress:
    """What a `speak` call has done so far (kept outside its task so that an interrupted call can
    still report it)."""

    received: list[str] = field(default_factory=list)
    spoken: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    audio_s: float = 0.0
    first_t: float | None = None


class SentenceSpeaker:
    """Speaks streamed answers through `synthesizer` into `sink`.

    `on_event` (e.g. `EventBus.publish`) receives `TtsFirstAudio`, `TtsDone`, `SpeechInterrupted`
    and an `ErrorEvent` per failed sentence; `clock` should be the pipeline's shared clock.
    """

    def __init__(
        self,
        synthesizer: Synthesizer,
        sink: AudioSink,
        clock: Clock | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.synthesizer = synthesizer
        self.sink = sink
        self.clock = clock or Clock()
        self.on_event = on_event or (lambda event: None)
        self._current: asyncio.Task[None] | None = None
        # Clock time at which the audio written so far has been heard to its end. A sink may
        # return before playing (a network client buffers): this is when the listener stops
        # hearing the answer, so barge-in is possible until then.
        self._playing_until = 0.0
        self._turn = 0  # the turn whose answer is (or was last) spoken
        # Sentences synthesised ahead (`prepare_first_sentence`), by speakable text, oldest first.
        self._prepared: dict[str, asyncio.Future[tuple[np.ndarray, int]]] = {}

    @property
    def speaking(self) -> bool:
        """An answer is being synthesised, or its audio is still playing."""
        busy = self._current is not None and not self._current.done()
        return busy or self.clock.now() < self._playing_until

    def interrupt(self) -> bool:
        """Barge-in: stop speaking now. Pending sentences are dropped, the running `speak` returns
        what it had spoken, and `SpeechInterrupted` tells players to drop unheard audio.
        Returns False (and does nothing) when nothing was being spoken."""
        if not self.speaking:
            return False
        now = self.clock.now()
        unplayed = max(0.0, self._playing_until - now)
        self._playing_until = now
        if self._current is not None:
            self._current.cancel()
        self.on_event(SpeechInterrupted(t=now, turn=self._turn, unplayed_s=round(unplayed, 3)))
        return True

    def prepare_first_sentence(self) -> Callable[[str], None]:
        """For an answer that may be spoken soon (one prepared during a pause): returns a
        function to pass its text deltas to as they are generated. Once the first sentence is
        complete it is synthesised at once, and a later `speak` of the same text finds that
        audio ready instead of waiting for TTS. Nothing is spoken here."""
        splitter = SentenceSplitter()
        done = False

        def feed(delta: str) -> None:
            nonlocal done
            if not done and (sentences := splitter.feed(delta)):
                done = True
                self._prepare(sentences[0])

        return feed

    def _prepare(self, sentence: str) -> None:
        speakable = clean_for_speech(sentence)
        if not speakable or speakable in self._prepared:
            return
        synthesis = asyncio.ensure_future(self.synthesizer.synthesize(speakable))
        # Never spoken, its failure would be reported as "never retrieved"; `speak` retries.
        synthesis.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._prepared[speakable] = synthesis
        while len(self._prepared) > _PREPARED_MAX:
            del self._prepared[next(iter(self._prepared))]

    async def speak(self, deltas: AsyncIterable[str], turn: int = 0) -> SpeechReport:
        """Consume `deltas` to the end, speaking each sentence as soon as it is complete (or
        until `interrupt()`)."""
        progress = _Progress()
        self._turn = turn
        task = asyncio.create_task(self._speak(deltas, turn, progress))
        self._current = task
        try:
            await asyncio.wait({task})  # unlike `await task`, not raised by interrupt()'s cancel
        finally:
            task.cancel()  # when this call itself is cancelled
        interrupted = task.cancelled()
        if not interrupted:
            task.result()  # the text stream's failure, if any
        report = SpeechReport(
            "".join(progress.received),
            tuple(progress.spoken),
            progress.first_t,
            self.clock.now(),
            progress.audio_s,
            tuple(progress.errors),
        )
        self.on_event(
            TtsDone(
                t=report.done_t,
                turn=turn,
                sentences=len(report.sentences),
                audio_s=report.audio_s,
                failed=len(report.errors),
                interrupted=interrupted,
            )
        )
        return report

    async def _speak(self, deltas: AsyncIterable[str], turn: int, progress: _Progress) -> None:
        queue: asyncio.Queue[_Synthesis | None] = asyncio.Queue()
        writer = asyncio.create_task(self._write_in_order(queue, turn, progress))
        splitter = SentenceSplitter()
        try:
            async for delta in deltas:
                progress.received.append(delta)
                for sentence in splitter.feed(delta):
                    self._submit(queue, sentence)
            for sentence in splitter.flush():
                self._submit(queue, sentence)
        except BaseException:
            # Interrupted (barge-in, cancelled turn) or the text stream failed: stop speaking.
            writer.cancel()
            _cancel_pending(queue)
            raise
        finally:
            queue.put_nowait(None)
        try:
            await writer
        except asyncio.CancelledError:
            writer.cancel()
            _cancel_pending(queue)
            raise

    def _submit(self, queue: asyncio.Queue[_Synthesis | None], sentence: str) -> None:
        speakable = clean_for_speech(sentence)
        if not speakable:
            return
        synthesis = self._prepared.pop(speakable, None)
        prepared = synthesis is not None and not synthesis.cancelled()
        if prepared and synthesis.done() and synthesis.exception() is not None:
            prepared = False  # failed ahead: try again, as for any sentence
        if not prepared:
            # Start now: the TTS worker runs sentences in submission order.
            synthesis = asyncio.ensure_future(self.synthesizer.synthesize(speakable))
        queue.put_nowait((speakable, synthesis, prepared))

    async def _write_in_order(
        self, queue: asyncio.Queue[_Synthesis | None], turn: int, progress: _Progress
    ) -> None:
        while (item := await queue.get()) is not None:
            sentence, synthesis, prepared = item
            try:
                samples, rate = await synthesis
                duration = len(samples) / rate
                if progress.first_t is None:
                    progress.first_t = self.clock.now()
                    self.on_event(
                        TtsFirstAudio(
                            t=progress.first_t,
                            turn=turn,
                            text=sentence,
                            audio_s=duration,
                            prepared=prepared,
                        )
                    )
                starts = max(self.clock.now(), self._playing_until)
                self._playing_until = starts + duration
                # Sinks may block (a speaker plays in real time): keep the event loop free.
                await asyncio.to_thread(self.sink.write, samples, rate)
            except Exception as exc:
                message = f"speech failed for {sentence[:40]!r}: {one_line(exc)}"
                progress.errors.append(message)
                self.on_event(ErrorEvent(t=self.clock.now(), turn=turn, message=message))
                continue
            progress.spoken.append(sentence)
            progress.audio_s += duration


def _cancel_pending(queue: asyncio.Queue[_Synthesis | None]) -> None:
    while not queue.empty():
        if (item := queue.get_nowait()) is not None:
            item[1].cancel()
