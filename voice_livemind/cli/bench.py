"""`voice-livemind bench` (text or spoken replay of MMLU / MMLU-Pro) and `analyze`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..livemind.config import AnswerStyle, Mode
from ..livemind.samples import MULTIPLE_CHOICE_INSTRUCTION
from .options import (
    add_asr_args,
    add_common_args,
    add_endpointing_args,
    add_tts_args,
    open_engines,
    session_config,
)


def add_bench_parser(commands: argparse._SubParsersAction) -> None:
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
        choices=["simulated", "realtime", "keep-up"],
        default="simulated",
        help="simulated: the paper's clock (typing simulated, model time real); "
        "realtime: text arrives on the wall clock; keep-up: each sentence once the model has "
        "thought about the one before (accuracy runs on a loaded machine; no latency)",
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
    spoken.add_argument(
        "--reader",
        choices=["piper", "espeak"],
        default="piper",
        help="the voice reading the questions: piper (neural) or espeak-ng (harder)",
    )
    spoken.add_argument("--voice", default=None, help="that reader's voice name (or piper .onnx)")
    add_tts_args(spoken)
    add_endpointing_args(spoken)
    spoken.add_argument("--rate", type=int, default=None, help="reading speed, words per minute")
    add_asr_args(bench)
    add_common_args(bench, both=True)


def add_analyze_parser(commands: argparse._SubParsersAction) -> None:
    analyze = commands.add_parser("analyze", help="tables and plots from bench results")
    analyze.add_argument("files", nargs="+", help="results files (JSONL) from bench")
    analyze.add_argument("--csv", default=None, help="also write the table as CSV here")
    analyze.add_argument("--json", action="store_true", help="print the summary as JSON")
    analyze.add_argument("--plot", default=None, metavar="DIR", help="write PNG plots here")
    analyze.add_argument("--timeline-id", default=None, help="question id for the timeline plot")


async def run_bench_command(args: argparse.Namespace) -> int:

    from ..bench.datasets import load_questions, sample_questions
    from ..bench.run_settings import session_settings
    from ..bench.text_replay import BenchSettings, check_output_free, run_bench, run_to_file

    if args.speed <= 0:
        raise ValueError("--speed must be positive (characters per minute)")
    if args.n < 0 or args.concurrency < 1:
        raise ValueError("-n must be >= 0 and --concurrency >= 1")
    if args.audio or args.recordings:
        from .voice import run_spoken_bench_command

        return await run_spoken_bench_command(args)
    n = args.n or None
    name = f"bench_{args.dataset}_{args.format}_{args.granularity}_{args.timing}_{args.options}"
    output = Path(args.output or f"runs/{name}_n{n or 'all'}.jsonl")
    # Bad input fails here, in a second, not after the model has loaded.
    questions = sample_questions(load_questions(args.data or args.dataset), n, args.seed)
    if not args.overwrite:
        check_output_free(output)
    engine, answer_engine = await open_engines(args)
    config = session_config(args, MULTIPLE_CHOICE_INSTRUCTION, answer_style=AnswerStyle.TEXT)
    settings = BenchSettings(
        dataset=args.data or args.dataset,
        n=n,
        seed=args.seed,
        speed_cpm=args.speed,
        timing=args.timing,
        options=args.options,
        concurrency=args.concurrency,
        **session_settings(config, engine.name, (answer_engine or engine).name, args.max_model_len),
    )
    modes = [Mode.LIVEMIND, Mode.BASELINE] if args.mode == "both" else [Mode(args.mode)]
    bench = run_bench(
        engine,
        answer_engine,
        config,
        settings,
        modes,
        output,
        concurrency=args.concurrency,
        questions=questions,
        overwrite=args.overwrite,
    )
    await run_to_file(bench, output, (engine, answer_engine))
    return 0


async def run_analyze_command(args: argparse.Namespace) -> int:
    from ..bench.analyze.report import run_analyze

    return run_analyze(args.files, args.csv, args.json, args.plot, args.timeline_id)
