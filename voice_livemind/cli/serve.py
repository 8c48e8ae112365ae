"""The `serve` command: load the models once, then serve sessions until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import signal

from .options import add_asr_args, add_common_args, open_engines, session_config, whisper_options


def add_serve_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve", help="serve many users over WebSocket, with a browser playground"
    )
    serve.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to accept other machines")
    serve.add_argument("--port", type=int, default=8765, help="0: any free port")
    serve.add_argument("--max-sessions", type=int, default=8, help="concurrent sessions")
    serve.add_argument(
        "--idle-timeout", type=float, default=300.0, help="close a silent session after (s)"
    )
    serve.add_argument("--no-speech", action="store_true", help="answers as text only")
    serve.add_argument("--answer-instruction", default="", help="appended to the final step")
    serve.add_argument("--verbose", action="store_true", help="log sessions opening and closing")
    add_asr_args(serve)
    add_common_args(serve)


async def run_serve(args: argparse.Namespace) -> int:
    from ..server.app import create_app, load_shared, serve
    from ..server.connection import Limits

    if args.max_sessions < 1 or args.idle_timeout <= 0:
        raise ValueError("--max-sessions must be >= 1 and --idle-timeout positive")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 <pid>`: every thread's stack, to stderr
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    if args.verbose:
        logging.getLogger("voice_livemind").setLevel(logging.INFO)
    engine, answer_engine = await open_engines(args)
    try:
        shared = await asyncio.to_thread(
            load_shared,
            engine,
            session_config(args, args.answer_instruction),
            answer_engine=answer_engine,
            asr_model=args.asr_model,
            whisper=whisper_options(args),
            speech=not args.no_speech,
        )
        limits = Limits(max_sessions=args.max_sessions, idle_timeout_s=args.idle_timeout)
        await serve(create_app(shared, limits), args.host, args.port)
    finally:
        for e in (engine, answer_engine):
            if e is not None:
                await e.close()
    return 0
