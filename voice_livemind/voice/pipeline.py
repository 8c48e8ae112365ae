"""The voice assistant's wiring: audio source -> ASR -> LiveMind session -> answer -> TTS.

Stages pass typed events over the session's `EventBus`; this module only moves them along.
The recogniser's committed words are fed to the session as they stabilise, so LiveMind thinks
while the user is still talking; its end of utterance ends the session's input. Each utterance
with words in it is one turn of the conversation. Whisper runs on one worker thread so the event
loop stays free for the audio clock, the LLM stream and TTS; a server passes one
`DecodeScheduler` shared by all its pipelines (Whisper's model is shared and decodes one buffer
at a time): it serves first the pipeline whose end of utterance is near, and feeds the
recogniser all the audio that arrived while the pipeline waited for it.

Typed input takes the same path (`feed_text`, `end_input`), so a conversation may mix speech
and text. When the user talks while an answer is being spoken (barge-in: evidence of speech,
not any sound; see `barge_in.py`), the speech stops and so does the answer's generation: the
text generated so far stays in the conversation history, and the new words reach the session
at once instead of after the whole answer. Every answered turn ends with a `TurnSummary` event:
the latency summary, from the turn's events.

With `repeat` set, an utterance whose transcript Whisper was too unsure of (`repeat.py`) is not
answered: the session forgets the turn, a `RepeatRequested` event says so, and the assistant asks
the user, through the speaker, to say it again.

Barge-in needs input that does not hear the output: headphones, a client with echo cancellation
(a browser), a file. A microphone next to loudspeakers hears the answer itself, which would
interrupt the answer and come back as the user's next turn; `barge_in=False` makes the pipeline
half duplex instead: while an answer is spoken, and `ECHO_TAIL_S` after, the recogniser gets
silence in place of the input.

When speech pauses (`SpeechPaused`) the session may start its answer speculatively, and thinks
about what was said up to the pause; when speech resumes (`SpeechResumed`) that answer is
dropped. The session decides (`SessionConfig.speculate`) and schedules the two.

End of turn: by default the recogniser's VAD ends an utterance after its fixed silence. With
`endpointing` set, the recogniser's silence is the fallback (build it with `VadConfig(min_silence_s=
EndpointingConfig.full_silence_s)`) and each pause gets its own: early in the pause, Smart Turn
(if given) judges the last 8 s of audio once, and at every chunk the transcript and LiveMind's
state (has an inference read it all, is the answer prepared in the pause ready) are fused
(`turn.fusion.required_silence`); once the pause has lasted that long, the turn ends there.
The check runs after each chunk the recogniser takes: a source faster than real time hands
over long chunks and can skip a pause whole.

Audio times (`audio_t`) count seconds of the stream; event times `t` are on the pipeline's clock.
`AudioArrivals` places audio times on the clock by when that audio arrived (a network client
pauses between turns); the first frame's `AudioStarted` event lets a reader of the latency log
do the same for a source that streams without breaks (a file or a microphone).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator

import numpy as np

from ..asr.events import (
    AsrDecoded,
    SpeechPaused,
    SpeechResumed,
    UtteranceEnded,
    WordsCommitted,
)
from ..asr.recognizer import StreamingRecognizer
from ..asr.scheduler import DecodeScheduler, RecognizerStream
from ..audio.events import AudioStarted
from ..audio.frames import SAMPLE_RATE, AudioFrame
from ..audio.speaker import SentenceSpeaker
from ..events import (
    AnswerDelta,
    AnswerDone,
    ErrorEvent,
    Event,
)
from ..livemind.session import LiveMindSession
from ..llm.base import EngineError
from ..turn.acoustic import WINDOW_S, SmartTurn
from ..turn.fusion import EndpointDecision, EndpointingConfig, TurnEvidence, required_silence
from ..turn.livemind_state import LiveMindState
from ..turn.transcript import transcript_signals
from .barge_in import BargeInDetector
from .metrics import AudioArrivals, TurnSummary, VoiceTurn, measure_turn
from .repeat import RepeatConfig, RepeatRequested

log = logging.getLogger(__name__)

# Half duplex: how long the input stays ignored after the last answer audio has played (the
# output device's buffer and the room's echo).
ECHO_TAIL_S = 0.3


class VoicePipeline:
    """Runs one conversation: every utterance with words in it becomes a turn, answered or,
    with `repeat`, asked for again.

    `barge_in=False`: the input is ignored while the answer is spoken (see the module docstring).
    `repeat`: when to ask the user to say it again instead of answering (None: never).
    """

    def __init__(
        self,
        recognizer: StreamingRecognizer,
        session: LiveMindSession,
        speaker: SentenceSpeaker | None = None,
        *,
        asr_scheduler: DecodeScheduler | None = None,
        barge_in: bool = True,
        endpointing: EndpointingConfig | None = None,
        smart_turn: SmartTurn | None = None,
        repeat: RepeatConfig | None = None,
    ) -> None:
        self.recognizer = recognizer
        self.session = session
        self.speaker = speaker
        self.barge_in = barge_in
        self._deaf_until = 0.0  # half duplex: clock time until which the input is ignored
        self._barge_in = BargeInDetector()
        self.bus = session.bus
        self.clock = session.clock
        self.turns: list[VoiceTurn] = []
        self.repeat = repeat if repeat is not None and repeat.min_confidence > 0.0 else None
        self.repeats: list[RepeatRequested] = []  # the turns not answered, in order
        # Whisper is not thread-safe and its work must stay in order: one worker.
        self._owns_scheduler = asr_scheduler is None
        self._asr = RecognizerStream(recognizer, asr_scheduler or DecodeScheduler())
        self._audio_arrived = asyncio.Event()
        self._source_done = False
        self._answering: asyncio.Task[None] | None = None
        self._log = self.bus.subscribe()
        self._arrivals = AudioArrivals()
        self._audio_started = False  # AudioStarted published
        self.endpointing = endpointing
        self.smart_turn = smart_turn  # None: the acoustic signal is left out
        self._recent = np.zeros(0, dtype=np.float32)  # the last WINDOW_S of input
        self._pause_p_complete: float | None = None  # Smart Turn's verdict on this pause
        self._in_pause = False

    async def run(self, frames: AsyncIterator[AudioFrame]) -> list[VoiceTurn]:
        """Consume the source to its end (or until cancelled) and return the answered turns."""
        reader = asyncio.create_task(self._read(frames))
        try:
            while await self._audio_waiting():
                # All the audio that arrived until the recogniser's turn, as one chunk: ASR
                # catches up in one call instead of falling behind frame by frame.
                chunk, events = await self._asr.feed_arrived()
                await self._handle(events)
                if self.endpointing is not None:
                    self._remember(chunk)
                    await self._end_turn_if_decided()
            await self._handle(await self._asr.call(self.recognizer.finish))
            if self._answering is not None:
                await self._answering
        finally:
            reader.cancel()
            if self._answering is not None and not self._answering.done():
                self._answering.cancel()
            if self._owns_scheduler:
                self._asr.scheduler.shutdown()
        return self.turns

    def _hears_own_voice(self) -> bool:
        """Half duplex: an answer is being spoken, or was until `ECHO_TAIL_S` ago."""
        if self.barge_in or self.speaker is None:
            return False
        now = self.clock.now()
        if self.speaker.speaking:
            self._deaf_until = now + ECHO_TAIL_S
        return now < self._deaf_until

    @property
    def answering(self) -> bool:
        """A turn's answer is being made or spoken."""
        return self._answering is not None and not self._answering.done()

    async def feed_text(self, text: str, revise: bool = False) -> None:
        """Typed input, as committed words are for speech (waits for an answer in progress);
        `revise`: `text` is the turn's whole input after an edit."""
        await self._finish_answering()
        if revise:
            self.session.revise(text)
        else:
            self.session.feed(text)

    def end_input(self) -> bool:
        """Typed input is complete: answer it, as the end of an utterance does for speech.
        Returns False when there is nothing to answer (no input, or an answer in progress)."""
        if self.answering or not self.session.text.strip():
            return False
        self._answering = asyncio.create_task(self._answer())
        return True

    async def _finish_answering(self) -> None:
        if self._answering is not None:  # the next turn starts: finish this one first
            try:
                await self._answering
            finally:
                self._answering = None  # however it ended: the next turn must not wait on it

    async def _read(self, frames: AsyncIterator[AudioFrame]) -> None:
        try:
            async for frame in frames:
                self._arrivals.record(frame.duration, self.clock.now())
                if self._talked_over(frame.samples):  # as it arrives: see barge_in.py
                    self._interrupt()
                if not self._audio_started:
                    # A source hands a frame over once its last sample is in.
                    end_t = frame.t + len(frame.samples) / SAMPLE_RATE
                    started = AudioStarted(
                        t=self.clock.now(), turn=self.session.turn, audio_t=end_t
                    )
                    self._audio_started = True
                    self.bus.publish(started)
                samples = frame.samples
                if self._hears_own_voice():
                    samples = np.zeros_like(samples)  # silence keeps the stream's time running
                self._asr.put(samples)
                self._audio_arrived.set()
        finally:
            self._source_done = True
            self._audio_arrived.set()

    async def _audio_waiting(self) -> bool:
        """Wait until audio has arrived for the recogniser; False at the end of the source."""
        while self._asr.arrived_s == 0.0:
            if self._source_done:
                return False
            self._audio_arrived.clear()
            await self._audio_arrived.wait()
        return True

    async def _handle(self, asr_events: list[Event]) -> None:
        for event in asr_events:
            # ASR events carry stream time; the log is on the pipeline's clock.
            now = self.clock.now()
            event = dataclasses.replace(event, t=now, turn=self.session.turn)
            if isinstance(event, AsrDecoded):
                arrived = self._arrivals.clock_time(event.audio_t)
                behind = None if arrived is None else round(max(0.0, now - arrived), 4)
                event = dataclasses.replace(event, behind_s=behind)
            self.bus.publish(event)
            if isinstance(event, WordsCommitted) and event.text.strip():
                if self.barge_in and self.speaker is not None and self.speaker.speaking:
                    self._interrupt()  # words heard over the answer: barge-in
                await self._finish_answering()
                self.session.feed(event.text)
            elif (
                isinstance(event, UtteranceEnded)
                and self.session.text.strip()
                and not self.answering  # already ended (typed `end`, a cap): one answer a turn
            ):
                if self.repeat is not None and self.repeat.needs_repeat(event):
                    self._drain_log()  # its events belong to no answered turn's figures
                    self._answering = asyncio.create_task(self._ask_to_repeat(event))
                else:
                    self._answering = asyncio.create_task(self._answer())
            elif isinstance(event, SpeechPaused) and self._answering is None:
                # If this pause is the end, the answer's first sentence is then ready to play.
                prepare = self.speaker.prepare_first_sentence if self.speaker else None
                self.session.speculate(prepare)
                self.session.mark_pause()  # what was said before the pause is a phrase
                if self.endpointing is not None:
                    await self._judge_pause()
            elif isinstance(event, SpeechResumed):
                self.session.discard_speculation("speech resumed")
                self._in_pause = False
            elif isinstance(event, UtteranceEnded):
                self._in_pause = False

    # -- the end of a turn, decided per pause (`endpointing`) ------------------------------------

    def _remember(self, chunk: np.ndarray) -> None:
        keep = round(WINDOW_S * SAMPLE_RATE)
        self._recent = np.concatenate([self._recent, chunk])[-keep:]

    async def _judge_pause(self) -> None:
        """Early in a pause: the acoustic verdict, once (it needs the audio up to now)."""
        self._in_pause = True
        self._pause_p_complete = None
        if self.smart_turn is not None and self._recent.size:
            predict, recent = self.smart_turn.predict, self._recent
            prediction = await self._asr.call(lambda: predict(recent))
            self._pause_p_complete = prediction.p_complete

    def decision(self) -> EndpointDecision | None:
        """The silence this pause needs to end the turn, from what is known now."""
        if self.endpointing is None or not self._in_pause or not self.session.text.strip():
            return None
        evidence = TurnEvidence(
            p_complete=self._pause_p_complete,
            transcript=transcript_signals(self.session.text),
            livemind=LiveMindState(
                question_complete=self.session.question_complete,
                answer_ready=self.session.answer_ready,
            ),
        )
        return required_silence(evidence, self.endpointing)

    async def _end_turn_if_decided(self) -> None:
        decision = self.decision()
        if decision is None or self.recognizer.vad.trailing_silence_s < decision.silence_s:
            return
        self._in_pause = False
        await self._handle(await self._asr.call(self.recognizer.end_turn))

    def _talked_over(self, samples: np.ndarray) -> bool:
        """Barge-in by the voice: speech heard while the answer is spoken (`barge_in.py`)."""
        if not self.barge_in or self.speaker is None or not self.speaker.speaking:
            self._barge_in.reset()
            return False
        return self._barge_in.hears_speech(samples)

    def _interrupt(self) -> None:
        assert self.speaker is not None
        if self.speaker.interrupt():  # it was speaking
            # The rest of the answer would go unheard, and the new words wait for it.
            self.session.interrupt_answer()

    async def _ask_to_repeat(self, utterance: UtteranceEnded) -> None:
        """The transcript is too uncertain to answer: forget the turn, ask for it again."""
        assert self.repeat is not None
        turn = self.session.turn
        request = RepeatRequested(
            t=self.clock.now(),
            turn=turn,
            text=self.session.text,
            confidence=round(utterance.confidence, 4),
            threshold=self.repeat.min_confidence,
            line=self.repeat.line,
        )
        self.repeats.append(request)
        self.bus.publish(request)
        await self.session.discard_turn("repeat requested")
        if self.speaker is not None:
            await self.speaker.speak(_one_line(self.repeat.line), turn)

    async def _answer(self) -> None:
        deltas = self.bus.subscribe()
        speaking = (
            asyncio.create_task(self.speaker.speak(_answer_text(deltas), self.session.turn))
            if self.speaker
            else None
        )
        result, error = None, None
        try:
            result = await self.session.end()
        except EngineError as exc:
            error = str(exc)
        except Exception:  # a bug: this turn fails, the conversation goes on
            log.exception("answer failed")
            error = "answer failed: an internal error (see the log)"
            self.bus.publish(ErrorEvent(t=self.clock.now(), turn=self.session.turn, message=error))
        if speaking is not None:
            await speaking
        self.bus.unsubscribe(deltas)
        turn = measure_turn(self._drain_log(), result, error, self._arrivals)
        self.turns.append(turn)
        number = result.turn if result else self.session.turn - 1
        self.bus.publish(TurnSummary(t=self.clock.now(), turn=number, figures=turn))

    def _drain_log(self) -> list[Event]:
        events = []
        while not self._log.empty():
            event = self._log.get_nowait()
            if event is not None:
                events.append(event)
        return events


async def _one_line(text: str) -> AsyncIterator[str]:
    yield text


async def _answer_text(queue: asyncio.Queue[Event | None]) -> AsyncIterator[str]:
    """The answer's text deltas from the bus, until the answer is done or failed."""
    while (event := await queue.get()) is not None:
        if isinstance(event, AnswerDelta):
            yield event.text
        elif isinstance(event, AnswerDone | ErrorEvent):
            return
