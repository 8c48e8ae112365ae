"""One client over one WebSocket: its conversation, on the models every client shares.

Per connection: a `LiveMindSession`, its `EventBus` and `Clock`, a `StreamingRecognizer` (its own
VAD and buffer over the shared Whisper decoder) and a `SentenceSpeaker` whose sink sends audio to
this client, wired by one `VoicePipeline`. Shared: the LLM engine(s), the Whisper model with its
single worker thread (`DecodeScheduler`: the most urgent stream first), and the TTS worker.

Three tasks: the receive loop (client messages -> pipeline), the pipeline (audio -> ASR ->
session -> answer), and the sender (bus events and audio -> client, in order). Whatever a client
sends, it gets an `error` message and the connection goes on; when it goes away, its tasks are
cancelled and nothing else is touched.

What one client may cost the others is bounded (`Limits`): typed input per message and per turn,
audio per frame, per turn and per second (real time plus a small burst: Whisper's one thread is
shared), and the messages waiting for it to read. Timeouts run on the wall clock, not per read:
pings and pongs keep a socket open but do not make it a user.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import numpy as np
from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from ..asr.decoder import WhisperDecoder
from ..asr.events import WordsCommitted
from ..asr.recognizer import RecognizerConfig, StreamingRecognizer
from ..asr.scheduler import DecodeScheduler
from ..audio.frames import SAMPLE_RATE, AudioFrame
from ..audio.speaker import SentenceSpeaker, Synthesizer
from ..events import Clock, ErrorEvent, Event, EventBus, InputEnded
from ..livemind.config import SessionConfig
from ..livemind.session import LiveMindSession
from ..llm.base import ChatEngine
from ..voice.pipeline import VoicePipeline
from ..voice.repeat import RepeatConfig, RepeatRequested
from .protocol import (
    EndInput,
    ProtocolError,
    SetMode,
    Start,
    TextInput,
    error_message,
    parse_message,
    pcm16_samples,
)
from .wires import JsonWire, Wire, select_wire

log = logging.getLogger(__name__)

SPEECH_FAILED = "speech recognition failed (see the server log); typing still works"
MODEL_FAILED = "the {} failed (see the server log)"


@dataclass
class SharedModels:
    """What every connection shares; loaded once by the server."""

    engine: ChatEngine
    decoder: WhisperDecoder
    session_config: SessionConfig
    synthesizer: Synthesizer | None = None  # None: answers are not spoken
    answer_engine: ChatEngine | None = None
    recognizer_config: RecognizerConfig = dataclasses.field(default_factory=RecognizerConfig)
    repeat: RepeatConfig | None = None  # when to ask the user to say it again (None: never)
    # Whisper's model is shared: one thread decodes for every connection, the one whose end of
    # utterance is near first (see `asr/scheduler.py`).
    asr_scheduler: DecodeScheduler = dataclasses.field(default_factory=DecodeScheduler)


@dataclass(frozen=True)
class Limits:
    max_sessions: int = 8
    idle_timeout_s: float = 300.0  # no client message for this long (and nothing to answer)
    start_timeout_s: float = 10.0  # a socket that has not sent `start` by then is closed
    max_handshakes: int = 32  # sockets not started yet; more are refused (503)
    ping_s: float = 30.0  # WebSocket pings: a peer that stops answering them is dropped
    max_frame_bytes: int = 64_000  # one audio frame: 2 s of 16 kHz PCM16
    max_text_chars: int = 4_000  # one text message
    max_turn_chars: int = 20_000  # one turn's typed input, all messages together
    max_turn_audio_s: float = 120.0  # audio while one turn's input is open
    # Audio is admitted at real time plus this much ahead: a client cannot queue more work for
    # the Whisper thread every session shares than its own talking makes.
    audio_burst_s: float = 2.0
    # Refusing frames one by one still costs the event loop every client shares: a client
    # that keeps sending ahead after being told is closed once this much audio was refused.
    # The count drains at `refused_audio_drain` seconds a second, so a network stall now and
    # then (its backlog sent at once) never adds up to it; a flood at 20x (19 s refused a
    # second) reaches it within a second.
    max_refused_audio_s: float = 10.0
    refused_audio_drain: float = 0.1
    max_outbox_bytes: int = 16 * 1024**2  # unsent messages; past it the client is dropped


class AudioAllowance:
    """A token bucket in seconds of audio: it fills at `rate` seconds a second (real time by
    default) up to `burst_s`."""

    def __init__(self, burst_s: float, now: float, rate: float = 1.0) -> None:
        self.burst_s = burst_s
        self.rate = rate
        self._credit_s = burst_s
        self._t = now

    def take(self, seconds: float, now: float) -> bool:
        """Admit `seconds` of audio arriving at `now` if the allowance holds them."""
        self._credit_s = min(self.burst_s, self._credit_s + self.rate * (now - self._t))
        self._t = now
        if seconds > self._credit_s:
            return False
        self._credit_s -= seconds
        return True


class ClientAudioSink:
    """An `AudioSink` that sends each synthesised sentence to the client.

    `write` is called from a worker thread (see `SentenceSpeaker`), so it hands the message to
    the event loop; it never blocks: the client buffers and plays at its own pace.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, send: Callable[[str | bytes], None], wire: Wire
    ) -> None:
        self._loop = loop
        self._send = send
        self._wire = wire

    def write(self, samples: np.ndarray, sample_rate: int) -> None:
        self._loop.call_soon_threadsafe(self._send, self._wire.audio(samples, sample_rate))

    def close(self) -> None:
        pass


class _Refused(Exception):
    """The connection ends now: `code` and `message` go to the client, then the close."""

    def __init__(self, code: str, message: str, close_code: int) -> None:
        super().__init__(message)
        self.code, self.close_code = code, close_code


class Connection:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        shared: SharedModels,
        limits: Limits,
        *,
        admit: Callable[[Connection], bool] = lambda connection: True,
        transport: asyncio.BaseTransport | None = None,
        wire: str | None = None,
    ) -> None:
        """`admit` is asked once, at `start`, for a place under the session cap; `transport`
        is cut if the client stops reading its messages; `wire` is the wire format chosen on
        connecting (`/ws?wire=pcm`; a `start` may choose too)."""
        self.ws = ws
        self.shared = shared
        self.limits = limits
        self.outbox: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self._wire_asked = wire
        self.wire: Wire = JsonWire()  # until started: errors are JSON on every wire
        self.pipeline: VoicePipeline | None = None
        self._admit = admit
        self._transport = transport
        self._outbox_bytes = 0
        self._dropped = False  # the client stopped reading and was cut off
        self._frames: asyncio.Queue[AudioFrame | None] = asyncio.Queue()
        self._samples_received = 0
        now = time.monotonic()
        self._allowance = AudioAllowance(limits.audio_burst_s, now)
        # How much more audio may be refused before the client is cut off.
        self._refusable = AudioAllowance(
            limits.max_refused_audio_s, now, rate=limits.refused_audio_drain
        )
        self._refusing = False  # the frame before was refused too: the client was told
        self._turn_speech_start: float | None = None  # stream time of this turn's first word
        self._tasks: list[asyncio.Task[object]] = []
        self._listening: asyncio.Task[object] | None = None  # the pipeline, over the audio

    @property
    def audio_received_s(self) -> float:
        """Seconds of the client's audio admitted so far."""
        return self._samples_received / SAMPLE_RATE

    async def run(self) -> None:
        """Serve the client until it leaves, idles out or the server stops."""
        sender = asyncio.create_task(self._send_all())
        refused = None
        try:
            if await self._handshake():
                await self._receive_all()
        except _Refused as exc:
            refused = exc
            self._error(exc.code, str(exc))
        finally:
            await self._close()
            self.outbox.put_nowait(None)
            await sender
        if refused is not None and not self.ws.closed:
            await self.ws.close(code=refused.close_code, message=refused.code.encode())

    # -- client -> server --------------------------------------------------------------------

    async def _handshake(self) -> bool:
        """Take messages until `start`; False if the client left first."""
        try:
            # A deadline on the wall clock: aiohttp's own receive timeout restarts at every
            # ping and pong, so a socket that only answers pings would never time out.
            async with asyncio.timeout(self.limits.start_timeout_s):
                while self.pipeline is None:
                    if not await self._on_message(await self.ws.receive()):
                        return False
        except TimeoutError:
            wait = self.limits.start_timeout_s
            message = f'no "start" message within {wait:g} s'
            raise _Refused("start_timeout", message, WSCloseCode.POLICY_VIOLATION) from None
        return True

    async def _receive_all(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self.limits.idle_timeout_s):  # see `_handshake`
                    message = await self.ws.receive()
            except TimeoutError:
                if self._busy():
                    continue  # the client is listening to an answer, not idle
                self._error("idle_timeout", f"no message for {self.limits.idle_timeout_s:g} s")
                return
            if not await self._on_message(message):
                return

    async def _on_message(self, message: WSMessage) -> bool:
        """Handle one message; False when the connection is over."""
        if message.type == WSMsgType.TEXT:
            await self._on_text(message.data)
            if self._wire_asked == "pcm" and self.pipeline is None:
                return False  # its start was refused: audio must not start a session instead
        elif message.type == WSMsgType.BINARY:
            self._on_audio(message.data)
        elif message.type == WSMsgType.ERROR:
            # aiohttp's hard frame limit (or a broken connection): it closes the socket.
            log.info("connection error: %s", message.data)
            return False
        else:  # CLOSE, CLOSING, CLOSED: the client left
            return False
        return not self._dropped

    def _busy(self) -> bool:
        if self.pipeline is None:
            return False
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
                self._check_turn_chars(message)
                await self.pipeline.feed_text(message.text, revise=message.revise)
                if message.final:
                    self._end_input()
            elif isinstance(message, EndInput):
                self._end_input()
            elif isinstance(message, SetMode):
                self._set_mode(message)
        except ProtocolError as exc:
            self._error(exc.code, str(exc))
        except _Refused:
            raise
        except Exception:  # a bug must cost this message, not the connection
            # The details stay in the server's log: exception text can reveal internals.
            log.exception("message failed: %.200s", raw)
            self._error("internal", "the server failed on this message; it is logged there")

    def _check_turn_chars(self, message: TextInput) -> None:
        assert self.pipeline is not None
        # An answer in progress: this text starts the next turn.
        so_far = 0 if message.revise or self.pipeline.answering else len(self.pipeline.session.text)
        limit = self.limits.max_turn_chars
        if so_far + len(message.text) > limit:
            raise ProtocolError(
                "too_large",
                f"a turn holds at most {limit} characters; this text is dropped: end the turn",
            )

    def _on_audio(self, data: bytes) -> None:
        if self.pipeline is None and self._wire_asked == "pcm":
            self._start(Start())  # the pcm wire may send audio without a start message
        try:
            if self.pipeline is None:
                raise ProtocolError("not_started", 'send {"type": "start"} before audio')
            samples = pcm16_samples(data, self.limits.max_frame_bytes)
            # The pipeline stopped (Whisper failed): say so instead of queueing audio.
            if self._listening and self._listening.done():
                raise ProtocolError("asr_failed", SPEECH_FAILED)
            seconds = len(samples) / SAMPLE_RATE
            if not self._allowance.take(seconds, time.monotonic()):
                self._refuse_audio(seconds)
                return
            self._refusing = False
        except ProtocolError as exc:
            self._error(exc.code, str(exc))
            return
        t = self._samples_received / SAMPLE_RATE
        self._samples_received += len(samples)
        self._frames.put_nowait(AudioFrame(samples, t))

    def _refuse_audio(self, seconds: float) -> None:
        """Drop a frame that is ahead of real time. The first frame of a run of them gets an
        error (one, not one per frame); past `max_refused_audio_s` (less what has drained),
        the client is cut off with `too_fast`."""
        if not self._refusable.take(seconds, time.monotonic()):
            limit = self.limits.max_refused_audio_s
            message = f"over {limit:g} s of audio refused for arriving ahead of real time: closing"
            raise _Refused("too_fast", message, WSCloseCode.POLICY_VIOLATION)
        if not self._refusing:
            self._refusing = True
            ahead = self.limits.audio_burst_s
            self._error(
                "too_fast",
                f"audio faster than real time (at most {ahead:g} s ahead): frames are dropped "
                "until it slows down",
            )

    def _start(self, start: Start) -> None:
        if self.pipeline is not None:
            raise ProtocolError("bad_message", "already started: one start per connection")
        wire = select_wire(start.wire or self._wire_asked)  # a bad wire name costs no place
        if not self._admit(self):
            raise _Refused(
                "server_full",
                f"server full: {self.limits.max_sessions} sessions in use; try again later",
                WSCloseCode.TRY_AGAIN_LATER,
            )
        self.wire = wire
        shared = self.shared
        clock, bus = Clock(), EventBus()
        speaker = None
        if start.speech and shared.synthesizer is not None:
            sink = ClientAudioSink(asyncio.get_running_loop(), self._put, self.wire)
            speaker = SentenceSpeaker(shared.synthesizer, sink, clock=clock, on_event=bus.publish)
        config = dataclasses.replace(shared.session_config, mode=start.mode)
        session = LiveMindSession(
            shared.engine, config, answer_engine=shared.answer_engine, bus=bus, clock=clock
        )
        recognizer = StreamingRecognizer(shared.decoder, shared.recognizer_config)
        self.pipeline = VoicePipeline(
            recognizer,
            session,
            speaker,
            asr_scheduler=shared.asr_scheduler,
            repeat=shared.repeat,
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
                "wire": self.wire.name,
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
        except Exception:  # Whisper failed: speech is off, typing still works
            log.exception("speech recognition failed")
            self._error("asr_failed", SPEECH_FAILED)
            raise

    async def _audio_frames(self) -> AsyncIterator[AudioFrame]:
        while (frame := await self._frames.get()) is not None:
            yield frame

    # -- server -> client --------------------------------------------------------------------

    async def _forward(self, events: asyncio.Queue) -> None:
        while (event := await events.get()) is not None:
            if isinstance(event, ErrorEvent):
                # An engine's error can name internals (a backend's address, a path): the
                # client learns that the turn failed, the log gets the details.
                log.warning("session error: %s", event.message)
                kind = event.message.split(" failed", 1)[0] if " failed" in event.message else ""
                event = dataclasses.replace(event, message=MODEL_FAILED.format(kind or "turn"))
            if (message := self.wire.event(event)) is not None:
                self._put(message)
            self._watch_turn_length(event)

    def _watch_turn_length(self, event: Event) -> None:
        """A turn spoken for longer than `max_turn_audio_s` (from its first word to its latest,
        in stream time) is answered as it stands; what follows starts the next turn."""
        if isinstance(event, InputEnded | RepeatRequested):  # the turn is over, answered or not
            self._turn_speech_start = None
        elif isinstance(event, WordsCommitted) and event.words and self.pipeline is not None:
            if self._turn_speech_start is None:
                self._turn_speech_start = event.words[0][0]
            spoken_s = event.words[-1][1] - self._turn_speech_start
            limit = self.limits.max_turn_audio_s
            if spoken_s > limit and self.pipeline.end_input():
                self._error("too_large", f"a turn holds at most {limit:g} s of speech: answering")

    def _send(self, message: dict[str, object]) -> None:
        self._put(json.dumps(message))

    def _error(self, code: str, message: str) -> None:
        self._put(error_message(code, message))

    def _put(self, message: str | bytes) -> None:
        """Queue a message for the client; a client that lets too much pile up is cut off
        (it stopped reading: the queue would otherwise grow without bound)."""
        if self._dropped:
            return
        self._outbox_bytes += len(message)
        if self._outbox_bytes > self.limits.max_outbox_bytes:
            log.warning("client not reading: %d bytes unsent; cut off", self._outbox_bytes)
            self._dropped = True
            if self._transport is not None:
                self._transport.abort()  # the close handshake would wait on the same client
            return
        self.outbox.put_nowait(message)

    async def _send_all(self) -> None:
        """Send in order; once the client is gone, keep draining so producers never block."""
        gone = False
        while (message := await self.outbox.get()) is not None:
            self._outbox_bytes -= len(message)
            if gone or self._dropped or self.ws.closed:
                continue
            try:
                if isinstance(message, bytes):
                    await self.ws.send_bytes(message)
                else:
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
