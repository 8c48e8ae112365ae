"""Speaking an answer while it streams: deltas -> sentences -> speech -> sink, in order.

Sentences are synthesised as soon as they complete (on the TTS worker thread) while later text
keeps streaming and earlier audio plays. Speech is a courtesy on top of the text: a sentence
that cannot be synthesised or played is counted and reported, never raised, so the caller
always gets the full answer text back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..events import Clock, ErrorEvent, Event
from .errors import one_line
from .events import TtsDone, TtsFirstAudio
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


_Synthesis = tuple[str, "asyncio.Future[tuple[np.ndarray, int]]"]


class SentenceSpeaker:
    """Speaks streamed answers through `synthesizer` into `sink`.

    `on_event` (e.g. `EventBus.publish`) receives `TtsFirstAudio`, `TtsDone` and an
    `ErrorEvent` per failed sentence; `clock` should be the pipeline's shared clock.
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

    async def speak(self, deltas: AsyncIterable[str], turn: int = 0) -> SpeechReport:
        """Consume `deltas` to the end, speaking each sentence as soon as it is complete."""
        queue: asyncio.Queue[_Synthesis | None] = asyncio.Queue()
        writer = asyncio.create_task(self._write_in_order(queue, turn))
        splitter = SentenceSplitter()
        received: list[str] = []
        try:
            async for delta in deltas:
                received.append(delta)
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
        spoken, audio_s, errors, first_t = await writer
        report = SpeechReport("".join(received), spoken, first_t, self.clock.now(), audio_s, errors)
        self.on_event(
            TtsDone(
                t=report.done_t,
                turn=turn,
                sentences=len(spoken),
                audio_s=audio_s,
                failed=len(errors),
            )
        )
        return report

    def _submit(self, queue: asyncio.Queue[_Synthesis | None], sentence: str) -> None:
        speakable = clean_for_speech(sentence)
        if speakable:
            # Start now: the TTS worker runs sentences in submission order.
            queue.put_nowait(
                (speakable, asyncio.ensure_future(self.synthesizer.synthesize(speakable)))
            )

    async def _write_in_order(
        self, queue: asyncio.Queue[_Synthesis | None], turn: int
    ) -> tuple[tuple[str, ...], float, tuple[str, ...], float | None]:
        spoken: list[str] = []
        errors: list[str] = []
        audio_s, first_t = 0.0, None
        while (item := await queue.get()) is not None:
            sentence, synthesis = item
            try:
                samples, rate = await synthesis
                if first_t is None:
                    first_t = self.clock.now()
                    self.on_event(
                        TtsFirstAudio(
                            t=first_t, turn=turn, text=sentence, audio_s=len(samples) / rate
                        )
                    )
                # Sinks may block (a speaker plays in real time): keep the event loop free.
                await asyncio.to_thread(self.sink.write, samples, rate)
            except Exception as exc:
                message = f"speech failed for {sentence[:40]!r}: {one_line(exc)}"
                errors.append(message)
                self.on_event(ErrorEvent(t=self.clock.now(), turn=turn, message=message))
                continue
            spoken.append(sentence)
            audio_s += len(samples) / rate
        return tuple(spoken), audio_s, tuple(errors), first_t


def _cancel_pending(queue: asyncio.Queue[_Synthesis | None]) -> None:
    while not queue.empty():
        if (item := queue.get_nowait()) is not None:
            item[1].cancel()
