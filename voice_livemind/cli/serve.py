"""The `serve` command: load the models once, then serve sessions until Ctrl-C or SIGTERM.

Both signals stop the server the same way: no new connections, every session closed with code
1001, then the engines closed, so vLLM's engine process ends with the server instead of being
left behind, holding its memory (and a GPU's).
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import os
import signal
import sys

from ..server.access import TOKEN_ENV, AccessPolicy, is_loopback
from .options import (
    add_asr_args,
    add_common_args,
    add_repeat_args,
    add_tts_args,
    open_engines,
    repeat_config,
    session_config,
    whisper_options,
)


def add_serve_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve", help="serve many users over WebSocket, with a browser playground"
    )
    serve.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to accept other machines")
    serve.add_argument("--port", type=int, default=8765, help="0: any free port")
    serve.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"clients must present this token (default: ${TOKEN_ENV}); the playground takes "
        "it from its URL: http://host:port/#token=...",
    )
    serve.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="also accept browser pages from ORIGIN (scheme://host[:port]); repeatable",
    )
    serve.add_argument("--max-sessions", type=int, default=8, help="concurrent sessions")
    serve.add_argument(
        "--idle-timeout", type=float, default=300.0, help="close a silent session after (s)"
    )
    serve.add_argument(
        "--asr-batch",
        type=int,
        default=1,
        metavar="N",
        help="decode the speech of up to N talking users in one Whisper call (1: one at a time)",
    )
    serve.add_argument("--no-speech", action="store_true", help="answers as text only")
    serve.add_argument("--answer-instruction", default="", help="appended to the final step")
    serve.add_argument("--verbose", action="store_true", help="log sessions opening and closing")
    add_asr_args(serve)
    add_repeat_args(serve)
    add_tts_args(serve)
    add_common_args(serve)


async def run_serve(args: argparse.Namespace) -> int:
    from ..server.app import create_app, load_shared, serve
    from ..server.connection import Limits

    if args.max_sessions < 1 or args.idle_timeout <= 0 or args.asr_batch < 1:
        raise ValueError("--max-sessions and --asr-batch must be >= 1 and --idle-timeout positive")
    access = AccessPolicy(args.token or None, frozenset(args.allow_origin))  # checks origins
    if not access.token and not is_loopback(args.host):
        print(
            f"voice-livemind: WARNING: serving on {args.host} without a token: anyone who can "
            "reach this port can use the model. Set --token (or $VOICE_LIVEMIND_TOKEN), and "
            "put a TLS proxy in front (README, Security).",
            file=sys.stderr,
            flush=True,
        )
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 <pid>`: every thread's stack, to stderr
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    if args.verbose:
        logging.getLogger("voice_livemind").setLevel(logging.INFO)
    stop = _stop_on_signals()
    engine, answer_engine = await open_engines(args)
    try:
        shared = await asyncio.to_thread(
            load_shared,
            engine,
            session_config(args, args.answer_instruction),
            answer_engine=answer_engine,
            asr_model=args.asr_model,
            whisper=whisper_options(args),
            asr_batch=args.asr_batch,
            tts=args.tts,
            speech=not args.no_speech,
            repeat=repeat_config(args),
        )
        limits = Limits(max_sessions=args.max_sessions, idle_timeout_s=args.idle_timeout)
        if not stop.is_set():
            await serve(create_app(shared, limits, access), args.host, args.port, stop)
    finally:
        for e in (engine, answer_engine):
            if e is not None:
                await e.close()
    if stop.is_set():
        print("voice-livemind: stopped", file=sys.stderr, flush=True)
    return 0


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT: the server then shuts down in order.

    Without a handler SIGTERM ends the process at once, skipping every `finally`: the engine
    process vLLM started would outlive it. A second signal while stopping is left to the
    default handler (the user insists)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(number: int) -> None:
        stop.set()
        for name in ("SIGTERM", "SIGINT"):
            loop.remove_signal_handler(getattr(signal, name))
        print(f"voice-livemind: {signal.Signals(number).name}: stopping", file=sys.stderr)

    for name in ("SIGTERM", "SIGINT"):
        loop.add_signal_handler(getattr(signal, name), on_signal, getattr(signal, name))
    return stop
