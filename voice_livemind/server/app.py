"""The HTTP side: one aiohttp application serves the playground page, its static files, the
WebSocket (`/ws`) and a health check (`/health`), over models loaded once (`load_shared`)."""

from __future__ import annotations

import asyncio
import logging
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, web

from ..asr.decoder import WhisperDecoder
from ..asr.recognizer import RecognizerConfig
from ..audio.errors import AudioError
from ..livemind.config import SessionConfig
from ..llm.base import ChatEngine
from .connection import Connection, Limits, SharedModels
from .protocol import error_message

log = logging.getLogger(__name__)

SHARED = web.AppKey("shared", SharedModels)
LIMITS = web.AppKey("limits", Limits)
CONNECTIONS = web.AppKey("connections", set)


def static_dir() -> Path:
    return Path(str(resources.files("voice_livemind") / "server" / "static"))


def create_app(shared: SharedModels, limits: Limits | None = None) -> web.Application:
    limits = limits or Limits()
    # aiohttp's own limit closes the socket (code 1009); ours, below it, only drops the frame.
    app = web.Application(client_max_size=1024**2)
    app[SHARED], app[LIMITS], app[CONNECTIONS] = shared, limits, set()
    app.router.add_get("/", _index)
    app.router.add_get("/ws", _websocket)
    app.router.add_get("/health", _health)
    app.router.add_static("/static/", static_dir())
    app.on_shutdown.append(_close_connections)
    return app


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(static_dir() / "index.html")


async def _health(request: web.Request) -> web.Response:
    app = request.app
    return web.json_response(
        {
            "sessions": len(app[CONNECTIONS]),
            "max_sessions": app[LIMITS].max_sessions,
            "model": app[SHARED].engine.name,
        }
    )


async def _websocket(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    limits, connections = app[LIMITS], app[CONNECTIONS]
    ws = web.WebSocketResponse(max_msg_size=4 * limits.max_frame_bytes, heartbeat=30)
    await ws.prepare(request)
    if len(connections) >= limits.max_sessions:
        await ws.send_str(
            error_message(
                "server_full",
                f"server full: {limits.max_sessions} sessions in use; try again later",
            )
        )
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"server full")
        return ws
    connection = Connection(ws, app[SHARED], limits)
    connections.add(connection)
    log.info("session opened (%d in use)", len(connections))
    try:
        await connection.run()
    finally:
        connections.discard(connection)
        log.info("session closed (%d in use)", len(connections))
        if not ws.closed:
            await ws.close()
    return ws


async def _close_connections(app: web.Application) -> None:
    for connection in list(app[CONNECTIONS]):
        await connection.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


def load_shared(
    engine: ChatEngine,
    session_config: SessionConfig,
    *,
    answer_engine: ChatEngine | None = None,
    asr_model: str | None = None,
    whisper: dict[str, Any] | None = None,
    speech: bool = True,
) -> SharedModels:
    """Load Whisper and TTS once for every session (blocking: call before serving).

    `whisper`: keyword arguments of `load_whisper` (device, compute type, threads)."""
    from ..asr.models import load_whisper
    from ..audio.tts import SpeechSynthesizer

    recognizer_config = RecognizerConfig()
    decoder = WhisperDecoder(load_whisper(asr_model, **(whisper or {})), recognizer_config.decoder)
    synthesizer = None
    if speech:
        try:
            synthesizer = SpeechSynthesizer()
        except AudioError as exc:
            log.warning("speech output off: %s", exc)
    return SharedModels(
        engine=engine,
        decoder=decoder,
        session_config=session_config,
        synthesizer=synthesizer,
        answer_engine=answer_engine,
        recognizer_config=recognizer_config,
    )


SHUTDOWN_TIMEOUT_S = 5.0


async def serve(app: web.Application, host: str, port: int) -> None:
    """Run until cancelled (Ctrl-C)."""
    # On Ctrl-C aiohttp waits for open sessions' handlers to end, by default for 60 s; a session
    # busy answering (or a client that never completes the close handshake) then holds the
    # whole server that long. Sessions get a few seconds, then they are cancelled.
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        bound_host, bound_port = runner.addresses[0][:2]  # the real port when asked for 0
        url = f"http://{bound_host}:{bound_port}/"
        print(f"voice-livemind: serving on {url} (Ctrl-C to stop)", flush=True)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
