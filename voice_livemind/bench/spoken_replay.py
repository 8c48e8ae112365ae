"""`voice-livemind bench --audio`: MMLU / MMLU-Pro spoken, through the whole voice pipeline.

Each sampled question is read aloud by the package's TTS (cached on disk, see
`audio/speech_cache.py`), or taken from a folder of recordings (`spoken.py`), and replayed in
real time through the voice pipeline: Silero VAD, streaming Whisper, the LiveMind session or
the chain-of-thought baseline, and TTS of the answer to a WAV file. Results go to a JSONL file
exactly as in the text bench (same resume, progress and `--mode both` alternation: `run_jobs`),
one line per question and mode (`spoken_record.py`).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..asr.recognizer import StreamingRecognizer
from ..audio import ArraySource, NullSink, SentenceSpeaker, WavSink
from ..audio.frames import SAMPLE_RATE
from ..audio.sources import decode_file
from ..audio.speaker import Synthesizer
from ..audio.speech_cache import SpeechCache
from ..events import Clock, EventBus, JsonlLog
from ..livemind.config import Mode, SessionConfig
from ..livemind.prompts import FINAL_INSTRUCTION
from ..livemind.session import LiveMindSession
from ..llm.base import ChatEngine, EngineError
from ..turn.acoustic import SmartTurn
from ..turn.fusion import EndpointingConfig
from ..voice.pipeline import VoicePipeline
from .spoken import SpokenQuestion
from .spoken_record import build_spoken_record
from .text_replay import drain_events, run_jobs

# Who reads the questions: piper, a neural voice a listener would accept, or espeak-ng, a
# harder robotic one that Whisper mishears more.
QUESTION_VOICES = {"piper": "en_US-joe-medium", "espeak": "gmw/en-us"}
QUESTION_RATE_WPM = 150  # conversational; espeak's faster default is hard for tiny.en
LEAD_SILENCE_S = 0.5  # before the question, as when a person starts talking
TRAILING_SILENCE_S = 2.0  # after it: room for the end of the utterance to be detected


@dataclass(frozen=True)
class SpokenBenchSettings:
    """What makes two spoken runs comparable; stored in every result line, checked on resume."""

    dataset: str  # a dataset name or file, or the recordings folder
    n: int | None
    seed: int
    voice: str | None  # the question voice (None: recordings)
    rate_wpm: int | None
    asr_model: str
    speculate: str  # which modes prepare the answer during pauses: "livemind" | "all" | "off"
    format: str
    granularity: str
    min_segment_chars: int
    end_policy: str
    max_inference_tokens: int
    max_answer_tokens: int
    model: str
    answer_model: str
    answer_prefix: str = ""  # how LiveMind's final reply opens
    final_instruction: str = FINAL_INSTRUCTION  # what LiveMind's final step is told
    options: str = "spoken"  # for analyze: how the options reached the model
    timing: str = "realtime"
    repetition_penalty: float = SessionConfig().answer.repetition_penalty  # the answer's
    free_actions: bool = False  # inference replies not constrained to the action format
    max_model_len: int = 2048  # the engine's context: how much history fits
    endpointing: str = "silence"  # how a turn ends: "silence" (the VAD's) | "fused" (per pause)


@dataclass
class SpokenBench:
    """Everything shared by the questions of one run: engines, Whisper, TTS, where to write."""

    engine: ChatEngine
    answer_engine: ChatEngine | None
    config: SessionConfig
    settings: SpokenBenchSettings
    recognizer: StreamingRecognizer  # a template: each question gets a fresh one on its decoder
    answer_voice: Synthesizer
    speech: SpeechCache | None  # None: recordings only
    # Spoken answers as WAVs here, each beside its latency log (None: discarded)
    answers_dir: Path | None
    # The end of a turn decided per pause (`VoicePipeline`'s `endpointing`); None: the VAD's
    # fixed silence.
    endpointing: EndpointingConfig | None = None
    smart_turn: SmartTurn | None = None

    async def question_audio(self, item: SpokenQuestion) -> np.ndarray:
        if item.audio_file is not None:
            return await asyncio.to_thread(decode_file, item.audio_file)
        if self.speech is None or item.text is None:
            raise ValueError(f"{item.id}: no recording and no text to synthesise")
        return await self.speech.speech(item.text)

    async def run_question(self, item: SpokenQuestion, mode: Mode) -> dict[str, Any]:
        """Replay one spoken question in real time through the pipeline; its result line."""
        audio = await self.question_audio(item)
        clock, bus = Clock(), EventBus()
        queue = bus.subscribe()
        sink = NullSink() if self.answers_dir is None else WavSink(self._answer_wav(item, mode))
        speaker = SentenceSpeaker(self.answer_voice, sink, clock=clock, on_event=bus.publish)
        config = replace(self.config, mode=mode)
        session = LiveMindSession(
            self.engine, config, answer_engine=self.answer_engine, bus=bus, clock=clock
        )
        recognizer = StreamingRecognizer(self.recognizer.decoder, self.recognizer.config)
        lead = np.zeros(round(LEAD_SILENCE_S * SAMPLE_RATE), dtype=np.float32)
        source = ArraySource(np.concatenate([lead, audio]), pad_s=TRAILING_SILENCE_S)
        error = None
        try:
            pipeline = VoicePipeline(
                recognizer,
                session,
                speaker,
                endpointing=self.endpointing,
                smart_turn=self.smart_turn,
            )
            turns = await pipeline.run(aiter(source))
            error = next((t.error for t in turns if t.error), None)
        except EngineError as exc:
            error = str(exc)
        finally:
            await session.close()
            sink.close()
        run = asdict(self.settings)
        events = drain_events(queue)
        if self.answers_dir is not None:  # the whole timeline, for a closer look at one question
            path = self._answer_wav(item, mode).with_suffix(".events.jsonl")
            path.unlink(missing_ok=True)  # a question interrupted earlier is run again
            log = JsonlLog(path)
            for event in events:
                log.write(event)
            log.close()
        silence_s = recognizer.config.vad.min_silence_s
        return build_spoken_record(
            item, mode.value, run, events, len(audio) / SAMPLE_RATE, silence_s, error
        )

    def _answer_wav(self, item: SpokenQuestion, mode: Mode) -> Path:
        assert self.answers_dir is not None
        return self.answers_dir / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', item.id)}_{mode.value}.wav"


def summary_line(record: dict[str, Any]) -> str:
    first_audio = record.get("speech_end_to_first_audio_s")
    shown = "error" if record["error"] else f"first audio {first_audio:.2f} s"
    verdict = "correct" if record["correct"] else "wrong"
    wer = record.get("wer")
    wer_shown = "" if wer is None else f", WER {100 * wer:.0f}%"
    return f"{record['id']} {record['mode']}: {shown}, {verdict}{wer_shown}"


async def run_spoken_bench(
    bench: SpokenBench,
    items: list[SpokenQuestion],
    modes: list[Mode],
    output: Path,
    overwrite: bool = False,
) -> int:
    """Run what is not in `output` yet; return how many results were written."""
    return await run_jobs(
        items,
        modes,
        bench.settings,
        output,
        bench.run_question,
        summary=summary_line,
        name="spoken bench",
        overwrite=overwrite,
    )
