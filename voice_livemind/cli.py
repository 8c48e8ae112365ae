"""`voice-livemind`: the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys

from .actions import ACTION_REGEX
from .asr.models import AsrModelNotFoundError
from .audio.errors import AudioError
from .events import EventBus, JsonlLog
from .llm.base import EngineError, SamplingSettings
from .prompts import PromptFormat
from .samples import MULTIPLE_CHOICE_ANSWER_PREFIX, MULTIPLE_CHOICE_INSTRUCTION, SAMPLE_QUESTION
from .segmenter import Granularity
from .server.command import add_serve_parser
from .session import EndPolicy, LiveMindSession, Mode, SessionConfig, Speculate
from .voice_cli import add_voice_parsers

# Real users online may fetch models from the hub; the offline default needs nothing.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _add_engine_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        default=None,
        help="HF model id or local HF directory (default: offline SmolLM2-135M-Instruct)",
    )
    group.add_argument(
        "--answer-model",
        default=None,
        help="a second model that writes the final answer (collaborative mode)",
    )
    group.add_argument(
        "--llm-url",
        default=None,
        help="OpenAI-compatible server (e.g. http://host:8000/v1) instead of in-process vLLM",
    )
    group.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", "EMPTY"))
    group.add_argument("--max-model-len", type=int, default=2048, help="context window (tokens)")


def _add_livemind_args(parser: argparse.ArgumentParser, both: bool = False) -> None:
    group = parser.add_argument_group("LiveMind")
    modes = [m.value for m in Mode] + (["both"] if both else [])
    group.add_argument("--mode", choices=modes, default="both" if both else Mode.LIVEMIND.value)
    group.add_argument(
        "--format",
        choices=[f.value for f in PromptFormat],
        default=SessionConfig().prompt_format.value,
    )
    group.add_argument(
        "--granularity", choices=[g.value for g in Granularity], default=Granularity.SENT.value
    )
    group.add_argument("--min-segment-chars", type=int, default=10)
    group.add_argument(
        "--end-policy",
        choices=[p.value for p in EndPolicy],
        default=EndPolicy.ABORT.value,
        help="at end of input: abort the in-flight inference, or wait for it (paper)",
    )
    group.add_argument("--max-inference-tokens", type=int, default=48)
    group.add_argument("--max-answer-tokens", type=int, default=256)
    group.add_argument(
        "--repetition-penalty",
        type=float,
        default=SessionConfig().answer.repetition_penalty,
        help="for the answer, in both modes alike (1.0: off)",
    )
    group.add_argument(
        "--answer-prefix",
        default=None,
        help="LiveMind's final reply opens with this text (default for the built-in "
        "multiple-choice questions: sample, demo, bench: 'The answer is ('; '' to turn off)",
    )
    group.add_argument(
        "--speculate",
        choices=[v.value for v in Speculate],
        default=SessionConfig().speculate.value,
        help="spoken input: prepare the answer while the end of the utterance is being "
        "confirmed, in LiveMind mode (default), in both modes, or not at all",
    )
    group.add_argument(
        "--free-actions",
        action="store_true",
        help="do not constrain inference replies to the action format",
    )


def session_config(
    args: argparse.Namespace, answer_instruction: str = "", multiple_choice: bool = False
) -> SessionConfig:
    """The session settings from the command line; `multiple_choice` questions get the
    multiple-choice answer prefix unless `--answer-prefix` says otherwise."""
    prefix = args.answer_prefix
    if prefix is None:
        prefix = MULTIPLE_CHOICE_ANSWER_PREFIX if multiple_choice else ""
    return SessionConfig(
        mode=Mode.LIVEMIND if args.mode == "both" else Mode(args.mode),
        prompt_format=PromptFormat(args.format),
        granularity=Granularity(args.granularity),
        min_segment_chars=args.min_segment_chars,
        end_policy=EndPolicy(args.end_policy),
        inference=SamplingSettings(
            max_tokens=args.max_inference_tokens,
            regex=None if args.free_actions else ACTION_REGEX,
            repetition_penalty=SessionConfig().inference.repetition_penalty,
        ),
        answer=SamplingSettings(
            max_tokens=args.max_answer_tokens, repetition_penalty=args.repetition_penalty
        ),
        answer_instruction=answer_instruction,
        answer_prefix=prefix,
        speculate=Speculate(args.speculate),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voice-livemind", description="A voice assistant that thinks while you speak."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    text = commands.add_parser(
        "text", help="type a question at a set speed and answer it (LiveMind or baseline)"
    )
    text.add_argument("question", nargs="?", default=None, help="default: a built-in sample")
    text.add_argument("--speed", type=float, default=240.0, help="characters per minute")
    text.add_argument(
        "--answer-instruction",
        default=None,
        help="appended to the final instruction (default: ask for the letter for the sample)",
    )
    text.add_argument("--log", default=None, help="write the latency log (JSONL) here")
    text.add_argument("--json", action="store_true", help="print one JSON object when done")
    _add_engine_args(text)
    _add_livemind_args(text)
    _add_bench_parser(commands)

    def add_common(parser: argparse.ArgumentParser) -> None:
        _add_engine_args(parser)
        _add_livemind_args(parser)

    add_voice_parsers(commands, add_common)
    add_serve_parser(commands, add_common)
    analyze = commands.add_parser("analyze", help="tables and plots from bench results")
    analyze.add_argument("files", nargs="+", help="results files (JSONL) from bench")
    analyze.add_argument("--csv", default=None, help="also write the table as CSV here")
    analyze.add_argument("--json", action="store_true", help="print the summary as JSON")
    analyze.add_argument("--plot", default=None, metavar="DIR", help="write PNG plots here")
    analyze.add_argument("--timeline-id", default=None, help="question id for the timeline plot")
    return parser


def _add_bench_parser(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser(
        "bench", help="replay MMLU / MMLU-Pro questions as typed text; LiveMind vs baseline"
    )
    bench.add_argument("--dataset", choices=["mmlu", "mmlu-pro"], default="mmlu-pro")
    bench.add_argument(
        "--data",
        default=None,
        help="local JSONL/parquet/CSV file or folder, or an HF dataset name "
        "(default: the sample shipped with voice-livemind)",
    )
    bench.add_argument("-n", type=int, default=10, help="questions (0: all), split by category")
    bench.add_argument("--seed", type=int, default=42)
    bench.add_argument("--speed", type=float, default=240.0, help="characters per minute")
    bench.add_argument(
        "--timing",
        choices=["simulated", "realtime"],
        default="simulated",
        help="simulated: the paper's clock (typing simulated, model time real); "
        "realtime: text arrives on the wall clock",
    )
    bench.add_argument(
        "--options",
        choices=["at-end", "streamed"],
        default="at-end",
        help="at-end: options arrive at once after the question (the paper); "
        "streamed: typed like the question (as when spoken)",
    )
    bench.add_argument("--output", default=None, help="results file (JSONL); default under runs/")
    bench.add_argument("--overwrite", action="store_true", help="start the results file afresh")
    bench.add_argument("--concurrency", type=int, default=1, help="simulated users at once")
    spoken = bench.add_argument_group(
        "spoken (--audio): questions read aloud through VAD, streaming ASR, LiveMind and TTS"
    )
    spoken.add_argument(
        "--audio", action="store_true", help="speak each question and replay it in real time"
    )
    spoken.add_argument(
        "--recordings",
        default=None,
        metavar="DIR",
        help="benchmark your own recordings: DIR holds audio files and answers.jsonl rows "
        '{"file": "q1.wav", "answer": "B", "text": "what is said (optional)"}',
    )
    spoken.add_argument("--voice", default=None, help="espeak voice reading the questions")
    spoken.add_argument("--rate", type=int, default=None, help="reading speed, words per minute")
    spoken.add_argument("--asr-model", default=None, help="faster-whisper model (tiny.en)")
    _add_engine_args(bench)
    _add_livemind_args(bench, both=True)


async def _open_engines(args: argparse.Namespace):
    from .llm import open_engine

    common = dict(llm_url=args.llm_url, api_key=args.api_key, max_model_len=args.max_model_len)
    engine = await open_engine(args.model, **common)
    answer_engine = None
    if args.answer_model and args.answer_model != args.model:
        answer_engine = await open_engine(args.answer_model, **common)
    return engine, answer_engine


async def run_text(args: argparse.Namespace) -> int:
    from .console import TerminalView
    from .text_source import typed_chunks

    question = args.question or SAMPLE_QUESTION
    # The sample is a multiple-choice question; the user's own question or instruction is not
    # assumed to be one (`--answer-prefix` sets the prefix for those).
    multiple_choice = args.question is None and args.answer_instruction is None
    instruction = MULTIPLE_CHOICE_INSTRUCTION if multiple_choice else args.answer_instruction or ""
    if args.speed <= 0:
        raise ValueError("--speed must be positive (characters per minute)")
    engine, answer_engine = await _open_engines(args)
    bus = EventBus()
    view = None if args.json else TerminalView()
    consumers = []
    log = JsonlLog(args.log) if args.log else None
    if log:
        consumers.append(asyncio.create_task(log.consume(bus.subscribe())))
    if view:
        consumers.append(asyncio.create_task(view.consume(bus.subscribe())))
        view.console.print(
            f"{args.mode}: typing at {args.speed:g} characters/min with {engine.name}",
            style="dim",
            markup=False,
        )
    session = LiveMindSession(
        engine,
        session_config(args, instruction, multiple_choice),
        answer_engine=answer_engine,
        bus=bus,
    )
    try:
        async for chunk in typed_chunks(question, args.speed):
            session.feed(chunk)
            if view:
                view.typed(chunk)
                await asyncio.sleep(0)  # let the view show inferences between keystrokes
        result = await session.end()
    finally:
        await session.close()
        bus.close()
        await asyncio.gather(*consumers)
        if log:
            log.close()
        for e in (engine, answer_engine):
            if e is not None:
                await e.close()
    if view:
        view.summary(result, args.mode)
    else:
        print(
            json.dumps(
                {
                    "mode": args.mode,
                    "model": engine.name,
                    "question": question,
                    "answer_text": result.answer,
                    "inferences": result.inferences,
                    "latency_s": round(result.latency_s, 4),
                    "ttft_s": None if result.ttft_s is None else round(result.ttft_s, 4),
                    "in_flight_at_end": result.in_flight_at_end,
                    "tokens_after_input": result.tokens.generated_tokens,
                    "final_prompt_tokens": result.tokens.prompt_tokens,
                    "final_cached_prompt_tokens": result.tokens.cached_prompt_tokens,
                }
            )
        )
    return 0


async def run_bench_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .bench import BenchSettings, run_bench, run_to_file

    if args.speed <= 0:
        raise ValueError("--speed must be positive (characters per minute)")
    if args.n < 0 or args.concurrency < 1:
        raise ValueError("-n must be >= 0 and --concurrency >= 1")
    if args.audio or args.recordings:
        from .voice_cli import run_spoken_bench_command

        return await run_spoken_bench_command(args, _open_engines, session_config)
    n = args.n or None
    engine, answer_engine = await _open_engines(args)
    config = session_config(args, MULTIPLE_CHOICE_INSTRUCTION, multiple_choice=True)
    settings = BenchSettings(
        dataset=args.data or args.dataset,
        n=n,
        seed=args.seed,
        speed_cpm=args.speed,
        timing=args.timing,
        options=args.options,
        format=args.format,
        granularity=args.granularity,
        min_segment_chars=args.min_segment_chars,
        end_policy=args.end_policy,
        max_inference_tokens=args.max_inference_tokens,
        max_answer_tokens=args.max_answer_tokens,
        answer_prefix=config.answer_prefix,
        model=engine.name,
        answer_model=(answer_engine or engine).name,
    )
    name = f"bench_{args.dataset}_{args.format}_{args.granularity}_{args.timing}_{args.options}"
    output = Path(args.output or f"runs/{name}_n{n or 'all'}.jsonl")
    if args.overwrite:
        output.unlink(missing_ok=True)
    modes = [Mode.LIVEMIND, Mode.BASELINE] if args.mode == "both" else [Mode(args.mode)]
    bench = run_bench(
        engine,
        answer_engine,
        config,
        settings,
        modes,
        output,
        concurrency=args.concurrency,
        data=args.data,
    )
    await run_to_file(bench, output, (engine, answer_engine))
    return 0


async def run_voice_command(args: argparse.Namespace) -> int:
    from .voice_cli import run_voice

    return await run_voice(args, _open_engines, session_config)


async def run_serve_command(args: argparse.Namespace) -> int:
    from .server.command import run_serve

    return await run_serve(args, _open_engines, session_config)


async def run_analyze_command(args: argparse.Namespace) -> int:
    from .analyze import run_analyze

    return run_analyze(args.files, args.csv, args.json, args.plot, args.timeline_id)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {
        "text": run_text,
        "bench": run_bench_command,
        "analyze": run_analyze_command,
        "serve": run_serve_command,
    }
    for voice_command in ("replay", "listen", "demo"):
        commands[voice_command] = run_voice_command
    try:
        return asyncio.run(commands[args.command](args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (EngineError, ValueError, OSError, AudioError, AsrModelNotFoundError) as exc:
        print(f"voice-livemind: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
