"""`voice-livemind`: the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable
from typing import TypeVar

from ..asr.models import AsrModelNotFoundError
from ..audio.errors import AudioError
from ..llm.base import EngineError
from .bench import add_analyze_parser, add_bench_parser, run_analyze_command, run_bench_command
from .serve import add_serve_parser, run_serve
from .text import add_text_parser, run_text
from .voice import add_voice_parsers, run_voice

# Real users online may fetch models from the hub; the offline default needs nothing.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voice-livemind", description="A voice assistant that thinks while you speak."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    add_text_parser(commands)
    add_bench_parser(commands)
    add_voice_parsers(commands)
    add_serve_parser(commands)
    add_analyze_parser(commands)
    return parser


T = TypeVar("T")


async def stopped_by_sigterm(command: Awaitable[T]) -> T:
    """Await `command`, cancelling it on SIGTERM as Ctrl-C does: its `finally` blocks run, so
    the engine process vLLM started is closed instead of outliving this one (without a
    handler SIGTERM ends the process at once). `serve` replaces the handler with its own."""
    task = asyncio.current_task()
    assert task is not None
    # Not the main thread (a test, an embedding program): signals are its owner's business.
    with contextlib.suppress(RuntimeError, ValueError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    return await command


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {
        "text": run_text,
        "bench": run_bench_command,
        "analyze": run_analyze_command,
        "serve": run_serve,
    }
    for voice_command in ("replay", "listen", "demo"):
        commands[voice_command] = run_voice
    try:
        return asyncio.run(stopped_by_sigterm(commands[args.command](args)))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except asyncio.CancelledError:  # SIGTERM
        print("stopped", file=sys.stderr)
        return 143
    except (EngineError, ValueError, OSError, AudioError, AsrModelNotFoundError) as exc:
        print(f"voice-livemind: error: {exc}", file=sys.stderr)
        return 1
