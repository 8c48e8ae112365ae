"""`voice-livemind text`: type a question at a set speed and answer it."""

from __future__ import annotations

import argparse
import asyncio
import json

from ..events import EventBus, JsonlLog
from ..livemind.samples import MULTIPLE_CHOICE_INSTRUCTION, SAMPLE_QUESTION
from ..livemind.session import LiveMindSession
from .options import add_common_args, open_engines, session_config


def add_text_parser(commands: argparse._SubParsersAction) -> None:
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
    add_common_args(text)


async def run_text(args: argparse.Namespace) -> int:
    from ..livemind.text_source import typed_chunks
    from .console import TerminalView

    question = args.question or SAMPLE_QUESTION
    # The sample is a multiple-choice question; the user's own question or instruction is not
    # assumed to be one (`--answer-prefix` sets the prefix for those).
    multiple_choice = args.question is None and args.answer_instruction is None
    instruction = MULTIPLE_CHOICE_INSTRUCTION if multiple_choice else args.answer_instruction or ""
    if args.speed <= 0:
        raise ValueError("--speed must be positive (characters per minute)")
    engine, answer_engine = await open_engines(args)
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
        session_config(args, instruction),
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
