"""One client over one WebSocket: its conversation, on the models every client shares.

Per connection: a `LiveMindSession`, its `EventBus` and `Clock`, a `StreamingRecognizer` (its own
VAD and buffer over the shared Whisper decoder) and a `SentenceSpeaker` whose sink sends audio to
this client, wired by one `VoicePipeline`. Shared: the LLM engine(s), the Whisper model with its
single worker thread, and the TTS worker.

Three tasks: the receive loop (client messages -> pipeline), the pipeline (audio -> ASR ->
session -> answer), and the sender (bus events and audio -> client, in order). Whatever a client
sends, it gets an `error` message and the connection goes on; when it goes away, its tasks are
cancelled and nothing else is touched.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
from aiohttp import WSMsgType, web

from ..asr.decoder import WhisperDecoder
from ..asr.recognizer import RecognizerConfig, StreamingRecognizer
from ..audio.errors import one_line
from ..audio.frames import SAMPLE_RATE, AudioFrame
from ..audio.speaker import SentenceSpeaker, Synthesizer
from ..events import Clock, EventBus
from ..livemind.config import SessionConfig
from ..livemind.session import LiveMindSession
from ..llm.base import ChatEngine
from ..voice.pipeline import VoicePipeline
from .protocol import (
    EndInput,
    ProtocolError,
    SetMode,
    Start,
    TextInput,
    audio_message,
    error_message,
    event_message,
    parse_message,
    pcm16_samples,
)

log = logging.getLogger(__name__)


@dataclass
class SharedModels:
    """What every connection shares; loaded once by the server."""

    engine: ChatEngine
    decoder: WhisperDecoder
    session_config: SessionConfig
    synthesizer: Synthesizer | None = None  # None: answers are not spoken
    answer_engine: ChatEngine | None = None
    recognizer_config: RecognizerConfig = dataclasses.field(default_factory=RecognizerConfig)
    # Whisper's model is shared: one thread decodes for every connection, in arrival order.
    asr_executor: concurrent.futures.Executor = dataclasses.field(
        default_factory=lambda: concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="asr")
    )


@dataclass(frozen=True)
class Limits:
    max_sessions: int = 8
    idle_timeout_s: float = 300.0  # no client message for this long (and nothing to answer)
    max_frame_bytes: int = 64_000  # one audio frame: 2 s of 16 kHz PCM16
    max_text_chars: int = 4_000  # one text message


class ClientAudioSink:
    """An `AudioSink` that sends each synthesised sentence to the client.

    `write` is called from a worker thread (see `SentenceSpeaker`), so it hands the message to
    the event loop; it never blocks: the client buffers and plays at its own pace.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, outbox: asyncio.Queue[str | None]) -> None:
        self._loop = loop
        self._outbox = outbox

    def write(self, samples: np.ndarray, sample_rate: int) -> None:
        self._loop.call_soon_threadsafe(
            self._outbox.put_nowait, audio_message(samples, sample_rate)
        )

    def close(self) -> None:
        pass


class Connection:
    def __init__(self, ws: web.WebSocketResponse, shared: SharedModels, limits: Limits) -> None:
        self.ws = ws
        self.shared = shared
        self.limits = limits
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.pipeline: VoicePipeline | None = None
        self._frames: asyncio.Queue[AudioFrame | None] = asyncio.Queue()
        self._samples_received = 0
        self._tasks: list[asyncio.Task[object]] = []
        self._listening: asyncio.Task[object] | None = None  # the pipeline, over the audio

    async def run(self) -> None:
        """Serve the client until it leaves, idles out or the server stops."""
        sender = asyncio.create_task(self._send_all())
        try:
            await self._receive_all()
        finally:
            await self._close()
            self.outbox.put_nowait(None)
            await sender

    # -- client -> server --------------------------------------------------------------------

    async def _receive_all(self) -> None:
        while True:
            try:
                message = await self.ws.receive(timeout=self.limits.idle_timeout_s)
            except TimeoutError:
                if self.pipeline is not None and self._busy():
                    continue  # the client is listening to an answer, not idle
                self._error("idle_timeout", f"no message for {self.limits.idle_timeout_s:g} s")
                return
            if message.type == WSMsgType.TEXT:
                await self._on_text(message.data)
            elif message.type == WSMsgType.BINARY:
                self._on_audio(message.data)
            elif message.type == WSMsgType.ERROR:
                # aiohttp's hard frame limit (or a broken connection): it closes the socket.
                log.info("connection error: %s", message.data)
                return
            else:  # CLOSE, CLOSING, CLOSED: the client left
                return

    def _busy(self) -> bool:
        assert self.pipeline is not None
        speaker = self.pipeline.speaker
        return self.pipeline.answering or bool(speaker and speaker.speaking)

    async def _on_text(self, raw: str) -> None:
        try:
            message = parse_message(raw, self.limits.max_text_chars)
            if isinstance(message, Start):
                self._start(message)
            elif self.pipeline is None:
                raise ProtocolError("not_started", 'send {"type": "start"} first')
            elif isinstance(message, TextInput):
                await self.pipeline.feed_text(message.text, revise=message.revise)
                if message.final:
                    self._end_input()
            elif isinstance(message, EndInput):
                self._end_input()
            elif isinstance(message, SetMode):
                self._set_mode(message)
        except ProtocolError as exc:
            self._error(exc.code, str(exc))
        except Exception as exc:  # a bug must cost this message, not the connection
            log.exception("message failed: %.200s", raw)
            self._error("internal", f"message failed: {one_line(exc)}")

    def _on_audio(self, data: bytes) -> None:
        try:
            if self.pipeline is None:
                raise ProtocolError("not_started", 'send {"type": "start"} before audio')
            samples = pcm16_samples(data, self.limits.max_frame_bytes)
            # The pipeline stopped (Whisper failed): say why instead of queueing audio.
            if self._listening and self._listening.done():
                failure = None if self._listening.cancelled() else self._listening.exception()
                reason = one_line(failure) if failure else "stopped"
                raise ProtocolError("asr_failed", f"speech recognition failed: {reason}")
        except ProtocolError as exc:
            self._error(exc.code, str(exc))
            return
        t = self._samples_received / SAMPLE_RATE
        self._samples_received += len(samples)
        self._frames.put_nowait(AudioFrame(samples, t))

    def _start(self, start: Start) -> None:
        if self.pipeline is not None:
            raise ProtocolError("bad_message", "already started: one start per connection")
        shared = self.shared
        clock, bus = Clock(), EventBus()
        speaker = None
        if start.speech and shared.synthesizer is not None:
            sink = ClientAudioSink(asyncio.get_running_loop(), self.outbox)
            speaker = SentenceSpeaker(shared.synthesizer, sink, clock=clock, on_event=bus.publish)
        config = dataclasses.replace(shared.session_config, mode=start.mode)
        session = LiveMindSession(
            shared.engine, config, answer_engine=shared.answer_engine, bus=bus, clock=clock
        )
        recognizer = StreamingRecognizer(shared.decoder, shared.recognizer_config)
        self.pipeline = VoicePipeline(
            recognizer, session, speaker, asr_executor=shared.asr_executor
        )
        events = bus.subscribe()
        self._listening = asyncio.create_task(self._listen(self.pipeline))
        self._tasks += [asyncio.create_task(self._forward(events)), self._listening]
        self._send(
            {
                "type": "ready",
                "mode": start.mode.value,
                "sample_rate": SAMPLE_RATE,
                "speech": speaker is not None,
                "model": shared.engine.name,
                "max_frame_bytes": self.limits.max_frame_bytes,
                "idle_timeout_s": self.limits.idle_timeout_s,
            }
        )

    def _end_input(self) -> None:
        assert self.pipeline is not None
        if not self.pipeline.end_input():
            reason = "an answer is in progress" if self.pipeline.answering else "no input yet"
            raise ProtocolError("nothing_to_answer", f"end ignored: {reason}")

    def _set_mode(self, message: SetMode) -> None:
        assert self.pipeline is not None
        session = self.pipeline.session
        if self.pipeline.answering or session.text:
            raise ProtocolError("busy", "the mode can change between turns only")
        session.set_mode(message.mode)
        self._send({"type": "mode", "mode": message.mode.value})

    async def _listen(self, pipeline: VoicePipeline) -> None:
        try:
            await pipeline.run(self._audio_frames())
        except Exception as exc:  # Whisper failed: speech is off, typing still works
            log.exception("speech recognition failed")
            self._error("asr_failed", f"speech recognition failed: {one_line(exc)}")
            raise

    async def _audio_frames(self) -> AsyncIterator[AudioFrame]:
        while (frame := await self._frames.get()) is not None:
            yield frame

    # -- server -> client --------------------------------------------------------------------

    async def _forward(self, events: asyncio.Queue) -> None:
        while (event := await events.get()) is not None:
            self.outbox.put_nowait(event_message(event))

    def _send(self, message: dict[str, object]) -> None:
        self.outbox.put_nowait(json.dumps(message))

    def _error(self, code: str, message: str) -> None:
        self.outbox.put_nowait(error_message(code, message))

    async def _send_all(self) -> None:
        """Send in order; once the client is gone, keep draining so producers never block."""
        gone = False
        while (message := await self.outbox.get()) is not None:
            if gone or self.ws.closed:
                continue
            try:
                await self.ws.send_str(message)
            except (ConnectionError, RuntimeError) as exc:  # closed under us
                log.info("client gone while sending: %s", exc)
                gone = True

    async def _close(self) -> None:
        for task in reversed(self._tasks):  # the pipeline first: it stops answering
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.pipeline is not None:
            await self.pipeline.session.close()
