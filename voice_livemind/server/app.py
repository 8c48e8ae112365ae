"""The HTTP side: one aiohttp application serves the playground page, its static files, the
WebSocket (`/ws`) and a health check (`/health`), over models loaded once (`load_shared`).

`/ws` is behind the `AccessPolicy` (Origin allow-list, optional token). A socket holds a place
under the session cap only once it has sent `start`; until then it is a handshake, closed if
`start` does not come in time, and handshakes have a cap of their own.
"""

from __future__ import annotations

import asyncio
import logging
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, web

from ..asr.batching import DecodeBatcher
from ..asr.decoder import WhisperDecoder
from ..asr.recognizer import RecognizerConfig
from ..asr.scheduler import DecodeScheduler
from ..audio.errors import AudioError
from ..livemind.config import SessionConfig
from ..llm.base import ChatEngine, EngineError
from ..voice.repeat import RepeatConfig
from .access import AccessPolicy
from .connection import Connection, Limits, SharedModels

log = logging.getLogger(__name__)

SHARED = web.AppKey("shared", SharedModels)
LIMITS = web.AppKey("limits", Limits)
ACCESS = web.AppKey("access", AccessPolicy)
CONNECTIONS = web.AppKey("connections", set)  # sessions: connections that have started
HANDSHAKES = web.AppKey("handshakes", set)  # connections that have not sent `start` yet


def static_dir() -> Path:
    return Path(str(resources.files("voice_livemind") / "server" / "static"))


def create_app(
    shared: SharedModels, limits: Limits | None = None, access: AccessPolicy | None = None
) -> web.Application:
    limits = limits or Limits()
    # aiohttp's own limit closes the socket (code 1009); ours, below it, only drops the frame.
    app = web.Application(client_max_size=1024**2)
    app[SHARED], app[LIMITS], app[ACCESS] = shared, limits, access or AccessPolicy()
    app[CONNECTIONS], app[HANDSHAKES] = set(), set()
    app.router.add_get("/", _index)
    app.router.add_get("/ws", _websocket)
    app.router.add_get("/health", _health)
    app.router.add_static("/static/", static_dir())
    app.on_shutdown.append(_close_connections)
    return app


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(static_dir() / "index.html")


async def _health(request: web.Request) -> web.Response:
    """Alive or not, for anyone; the load only for a caller holding the token (when one is set)."""
    app = request.app
    body: dict[str, object] = {"status": "ok"}
    if app[ACCESS].token is not None and app[ACCESS].authorized(request):
        body |= {"sessions": len(app[CONNECTIONS]), "max_sessions": app[LIMITS].max_sessions}
    return web.json_response(body)


async def _websocket(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    app[ACCESS].check(request)
    limits, connections, handshakes = app[LIMITS], app[CONNECTIONS], app[HANDSHAKES]
    if len(handshakes) >= limits.max_handshakes:
        raise web.HTTPServiceUnavailable(text="too many connections starting; try again later\n")
    ws = web.WebSocketResponse(max_msg_size=4 * limits.max_frame_bytes, heartbeat=limits.ping_s)
    await ws.prepare(request)

    def admit(connection: Connection) -> bool:
        handshakes.discard(connection)
        if len(connections) >= limits.max_sessions:
            return False
        connections.add(connection)
        log.info("session opened (%d in use)", len(connections))
        return True

    connection = Connection(
        ws,
        app[SHARED],
        limits,
        admit=admit,
        transport=request.transport,
        wire=request.query.get("wire"),
    )
    handshakes.add(connection)
    try:
        await connection.run()
    finally:
        handshakes.discard(connection)
        if connection in connections:
            connections.discard(connection)
            log.info("session closed (%d in use)", len(connections))
        if not ws.closed:
            await ws.close()
    return ws


async def _close_connections(app: web.Application) -> None:
    """Server shutdown: every client is told (close code 1001) before its session ends."""
    connections = [*app[HANDSHAKES], *app[CONNECTIONS]]
    await asyncio.gather(
        *(c.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown") for c in connections),
        return_exceptions=True,
    )


def load_shared(
    engine: ChatEngine,
    session_config: SessionConfig,
    *,
    answer_engine: ChatEngine | None = None,
    asr_model: str | None = None,
    whisper: dict[str, Any] | None = None,
    asr_batch: int = 1,
    speech: bool = True,
    tts: str = "auto",
    repeat: RepeatConfig | None = None,
) -> SharedModels:
    """Load Whisper and TTS once for every session (blocking: call before serving).

    `whisper`: keyword arguments of `load_whisper` (device, compute type, threads);
    `asr_batch`: up to how many talking sessions' passes one Whisper call decodes; `repeat`:
    when a session asks the user to say it again (None: never)."""
    from ..asr.models import load_whisper
    from ..audio.tts import SpeechSynthesizer

    recognizer_config = RecognizerConfig()
    batcher = DecodeBatcher() if asr_batch > 1 else None
    model = load_whisper(asr_model, **(whisper or {}))
    decoder = WhisperDecoder(model, recognizer_config.decoder, batcher)
    synthesizer = None
    if speech:
        try:
            synthesizer = SpeechSynthesizer(backend=tts)
        except AudioError as exc:
            log.warning("speech output off: %s", exc)
    return SharedModels(
        engine=engine,
        decoder=decoder,
        session_config=session_config,
        synthesizer=synthesizer,
        answer_engine=answer_engine,
        recognizer_config=recognizer_config,
        repeat=repeat,
        asr_scheduler=DecodeScheduler(batcher=batcher, batch=asr_batch),
    )


SHUTDOWN_TIMEOUT_S = 5.0


async def serve(
    app: web.Application, host: str, port: int, stop: asyncio.Event | None = None
) -> None:
    """Run until `stop` is set or the task is cancelled; then stop accepting connections and
    close every session (close code 1001) before returning."""
    # aiohttp waits for open sessions' handlers to end, by default for 60 s; a session busy
    # answering (or a client that never completes the close handshake) would then hold the
    # whole server that long. Sessions get a few seconds, then they are cancelled.
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        bound_host, bound_port = runner.addresses[0][:2]  # the real port when asked for 0
        url = f"http://{bound_host}:{bound_port}/"
        print(f"voice-livemind: serving on {url} (Ctrl-C to stop)", flush=True)
        stop = stop or asyncio.Event()
        watchdog = asyncio.create_task(_stop_when_an_engine_fails(app[SHARED], stop))
        try:
            await stop.wait()
        finally:
            watchdog.cancel()
    finally:
        await runner.cleanup()
    if engine_failed(app[SHARED]):
        raise EngineError("the LLM engine died; the server stopped (restart it)")


ENGINE_CHECK_S = 1.0


def engine_failed(shared: SharedModels) -> bool:
    """Whether an engine says it cannot serve any more (the in-process vLLM engine does)."""
    return any(getattr(e, "failed", False) for e in (shared.engine, shared.answer_engine))


async def _stop_when_an_engine_fails(shared: SharedModels, stop: asyncio.Event) -> None:
    """A dead engine fails every turn from then on: better to stop, so that whatever runs the
    server (systemd, a container) starts a fresh one, than to stay up answering nothing."""
    while not engine_failed(shared):
        await asyncio.sleep(ENGINE_CHECK_S)
    log.error("the LLM engine died: stopping the server")
    stop.set()
