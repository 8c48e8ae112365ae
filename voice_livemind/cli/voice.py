"""The voice commands: `listen` (microphone), `replay FILE` and `demo` (a bundled question)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

from ..audio.errors import AudioError
from ..cache import cache_dir
from ..events import Clock, EventBus, JsonlLog
from ..livemind.samples import MULTIPLE_CHOICE_INSTRUCTION
from ..voice.metrics import VoiceTurn
from ..voice.pipeline import VoicePipeline
from ..voice.repeat import RepeatRequested
from .console import hide_library_warnings, output_hidden
from .options import (
    add_asr_args,
    add_common_args,
    add_endpointing_args,
    add_repeat_args,
    add_tts_args,
    open_engines,
    repeat_config,
    session_config,
    whisper_options,
)

DEMO_AUDIO = "sample_question.flac"  # SAMPLE_QUESTION read by piper, in voice_livemind/data
DEMO_ANSWER_WAV = "runs/demo_answer.wav"
# Silence added after a file so the end of the utterance can be detected after its last word.
TRAILING_SILENCE_S = 2.0
STARTUP_LOG = cache_dir() / "startup.log"  # the libraries' output while models load


def add_voice_parsers(commands: argparse._SubParsersAction) -> None:
    replay = commands.add_parser("replay", help="answer a spoken question from an audio file")
    replay.add_argument("file", help="wav, flac, mp3, ... (any rate; mono or stereo)")
    replay.add_argument("--fast", action="store_true", help="feed the audio as fast as possible")
    listen = commands.add_parser("listen", help="talk to the assistant through the microphone")
    listen.add_argument("--device", default=None, help="input device name or index")
    listen.add_argument(
        "--barge-in",
        action="store_true",
        help="let speech interrupt the answer (headphones or echo cancellation; by default the "
        "microphone is ignored while the answer plays, so the assistant does not hear itself)",
    )
    demo = commands.add_parser("demo", help="replay the bundled spoken question end to end")
    for parser in (replay, listen, demo):
        parser.add_argument("--log", default=None, help="write the latency log (JSONL) here")
        parser.add_argument("--speak-to", default=None, help="write the spoken answer to a WAV")
        parser.add_argument("--no-speech", action="store_true", help="print the answer only")
        parser.add_argument("--answer-instruction", default=None)
        parser.add_argument("--json", action="store_true", help="print one JSON object at the end")
        add_endpointing_args(parser)
        parser.add_argument(
            "--verbose",
            action="store_true",
            help="show the libraries' output while models load (by default it goes to "
            f"{STARTUP_LOG.name} in the cache folder)",
        )
        add_asr_args(parser)
        add_repeat_args(parser)
        add_tts_args(parser)
        add_common_args(parser)


def _speaker(args: argparse.Namespace, clock: Clock, bus: EventBus, fallback_wav: str | None):
    """The TTS stage, or None (with a one-line note) when speech cannot be produced."""
    from ..audio import SentenceSpeaker, SpeakerSink, SpeechSynthesizer, WavSink

    if args.no_speech:
        return None
    try:
        synthesizer = SpeechSynthesizer(backend=args.tts)
        if args.speak_to:
            sink = WavSink(args.speak_to)
        else:
            try:
                sink = SpeakerSink()
            except AudioError:
                if fallback_wav is None:
                    raise
                Path(fallback_wav).parent.mkdir(parents=True, exist_ok=True)
                sink = WavSink(fallback_wav)
                print(f"no speakers here: the answer is spoken to {fallback_wav}", file=sys.stderr)
    except AudioError as exc:
        print(f"speech output off: {exc}", file=sys.stderr)
        return None
    return SentenceSpeaker(synthesizer, sink, clock=clock, on_event=bus.publish)


def _barge_in(args: argparse.Namespace, speaker: Any) -> bool:
    """Full duplex unless a microphone may hear the answer from the loudspeakers."""
    from ..audio import SpeakerSink

    loudspeakers = speaker is not None and isinstance(speaker.sink, SpeakerSink)
    return args.command != "listen" or not loudspeakers or args.barge_in


async def run_voice(args: argparse.Namespace) -> int:
    from ..asr.recognizer import create_recognizer
    from ..audio import FileSource, MicrophoneSource
    from ..livemind.session import LiveMindSession
    from .console import TerminalView

    if args.command == "listen":
        device = int(args.device) if args.device and args.device.isdigit() else args.device
        source: Any = MicrophoneSource(device=device)
    else:
        path = args.file if args.command == "replay" else demo_audio()
        realtime = not getattr(args, "fast", False)
        source = FileSource(path, realtime=realtime, pad_s=TRAILING_SILENCE_S)
    # The demo asks the sample multiple-choice question; nothing else is assumed to be one.
    multiple_choice = args.command == "demo" and args.answer_instruction is None
    instruction = MULTIPLE_CHOICE_INSTRUCTION if multiple_choice else args.answer_instruction or ""
    if not args.verbose:
        hide_library_warnings()
    timings: dict[str, float] = {}
    clock, bus = Clock(), EventBus()
    speaker = _speaker(args, clock, bus, DEMO_ANSWER_WAV if args.command == "demo" else None)
    endpointing, smart_turn, asr_config = _endpointing(args)
    repeat = repeat_config(args)
    with contextlib.nullcontext() if args.verbose else output_hidden(STARTUP_LOG):
        started = time.monotonic()
        recognizer = await asyncio.to_thread(
            create_recognizer, args.asr_model, asr_config, **whisper_options(args)
        )
        engine, answer_engine = await open_engines(args)
        timings["models"] = time.monotonic() - started
        config = session_config(args, instruction)
        session = LiveMindSession(
            engine,
            config,
            answer_engine=answer_engine,
            bus=bus,
            clock=clock,
        )
        started = time.monotonic()
        await _warm_up(session, recognizer, speaker)
        timings["warm-up"] = time.monotonic() - started
    # The log's times count from here, where listening starts, not from the start-up.
    clock.started_at = time.monotonic()
    view = None if args.json else TerminalView()
    log = JsonlLog(args.log) if args.log else None
    consumers = [asyncio.create_task(c.consume(bus.subscribe())) for c in (view, log) if c]
    if view:
        view.ready(args.mode, args.command, engine.name, timings)
    try:
        pipeline = VoicePipeline(
            recognizer,
            session,
            speaker,
            barge_in=_barge_in(args, speaker),
            endpointing=endpointing,
            smart_turn=smart_turn,
            repeat=repeat,
        )
        turns = await pipeline.run(aiter(source))
    finally:
        await session.close()
        bus.close()
        await asyncio.gather(*consumers)
        for closable in (log, speaker.sink if speaker else None):
            if closable:
                closable.close()
        for e in (engine, answer_engine):
            if e is not None:
                await e.close()
    _report(args, view, turns, pipeline.repeats)
    return 0


def _endpointing(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(endpointing config, Smart Turn or None, recogniser config) for `--endpointing`."""
    if args.endpointing == "silence":
        return None, None, None
    from ..asr.recognizer import RecognizerConfig
    from ..asr.vad import VadConfig
    from ..turn.acoustic import SmartTurn, SmartTurnUnavailable
    from ..turn.fusion import EndpointingConfig

    endpointing = EndpointingConfig()
    try:
        smart_turn = SmartTurn()
    except SmartTurnUnavailable as exc:
        print(f"endpointing without the acoustic signal: {exc}", file=sys.stderr)
        smart_turn = None
    # The VAD's own silence is the fallback when nothing vouches for an earlier end.
    vad = VadConfig(min_silence_s=endpointing.full_silence_s)
    return endpointing, smart_turn, RecognizerConfig(vad=vad)


async def _warm_up(session: Any, recognizer: Any, speaker: Any) -> None:
    """Everything the first question would otherwise wait for: the engine's first requests
    and the action grammar, Whisper's first decode, the TTS worker's first sentence."""
    import numpy as np

    second = np.zeros(16_000, dtype=np.float32)
    tasks = [session.warm_up(), asyncio.to_thread(recognizer.decoder.decode, second)]
    if speaker is not None:
        tasks.append(speaker.synthesizer.synthesize("Ready."))
    await asyncio.gather(*tasks)


def demo_audio() -> str:
    return str(resources.files("voice_livemind") / "data" / DEMO_AUDIO)


def _report(
    args: argparse.Namespace, view: Any, turns: list[VoiceTurn], repeats: list[RepeatRequested]
) -> None:
    if args.json:
        # Every turn of the input, in order (a file may hold several utterances), and the
        # utterances that were not answered because the transcript was too uncertain.
        report = {
            "mode": args.mode,
            "turns": [turn.to_dict() for turn in turns],
            "repeats": [repeat.to_dict() for repeat in repeats],
        }
        print(json.dumps(report))
        return
    if not turns and not repeats:
        view.console.print("no speech heard: nothing to answer", style="yellow")
    for turn in turns:
        view.voice_summary(turn, args.mode)


async def run_spoken_bench_command(args: argparse.Namespace) -> int:
    """`bench --audio` / `bench --recordings DIR`: the spoken benchmark (`bench_spoken.py`)."""
    from ..asr.recognizer import create_recognizer
    from ..audio import SpeechSynthesizer
    from ..audio.speech_cache import SpeechCache
    from ..bench.datasets import load_questions, sample_questions
    from ..bench.run_settings import session_settings
    from ..bench.spoken import from_questions, load_recordings
    from ..bench.spoken_replay import (
        QUESTION_RATE_WPM,
        QUESTION_VOICES,
        SpokenBench,
        SpokenBenchSettings,
        run_spoken_bench,
    )
    from ..bench.text_replay import check_output_free, run_to_file
    from ..livemind.config import Mode

    if args.concurrency != 1:
        raise ValueError("the spoken benchmark replays in real time: --concurrency must be 1")
    n = args.n or None
    if args.recordings:
        items = load_recordings(args.recordings)[: n or None]
        source, voice, rate = str(Path(args.recordings).resolve()), None, None
    else:
        source = args.data or args.dataset
        items = from_questions(sample_questions(load_questions(source), n, args.seed))
        voice, rate = args.voice or QUESTION_VOICES[args.reader], args.rate or QUESTION_RATE_WPM
    output = Path(args.output or f"runs/{_spoken_run_name(args)}.jsonl")
    if not args.overwrite:
        check_output_free(output)  # before the models load
    endpointing, smart_turn, asr_config = _endpointing(args)
    recognizer = await asyncio.to_thread(
        create_recognizer, args.asr_model, asr_config, **whisper_options(args)
    )
    answer_voice = SpeechSynthesizer(backend=args.tts)
    reader = None
    if not args.recordings:
        backend = "piper" if args.reader == "piper" else "auto"
        reader = SpeechSynthesizer(rate, voice, backend=backend)
    speech = SpeechCache(reader) if reader else None
    engine, answer_engine = await open_engines(args)
    config = session_config(args, MULTIPLE_CHOICE_INSTRUCTION)
    settings = SpokenBenchSettings(
        dataset=source,
        n=n,
        seed=args.seed,
        voice=f"{reader.backend}:{reader.voice}" if reader else None,
        rate_wpm=rate,
        asr_model=args.asr_model or "tiny.en",
        speculate=config.speculate.value,
        endpointing=args.endpointing,
        **session_settings(config, engine.name, (answer_engine or engine).name, args.max_model_len),
    )
    bench = SpokenBench(
        engine=engine,
        answer_engine=answer_engine,
        config=config,
        settings=settings,
        recognizer=recognizer,
        answer_voice=answer_voice,
        speech=speech,
        answers_dir=output.with_name(output.stem + "_answers"),
        endpointing=endpointing,
        smart_turn=smart_turn,
    )
    modes = [Mode.LIVEMIND, Mode.BASELINE] if args.mode == "both" else [Mode(args.mode)]
    await run_to_file(
        run_spoken_bench(bench, items, modes, output, overwrite=args.overwrite),
        output,
        (engine, answer_engine),
    )
    return 0


def _spoken_run_name(args: argparse.Namespace) -> str:
    label = "recordings" if args.recordings else args.dataset
    return f"bench_spoken_{label}_{args.format}_{args.granularity}_n{args.n or 'all'}"
