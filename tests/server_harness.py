"""Starting a real server on 127.0.0.1 for tests: real aiohttp, real sockets, any engine."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from voice_livemind.server.access import AccessPolicy
from voice_livemind.server.app import CONNECTIONS, create_app
from voice_livemind.server.client import LiveMindClient
from voice_livemind.server.connection import Limits, SharedModels


class RunningServer:
    def __init__(self, app: web.Application, base_url: str, http: aiohttp.ClientSession) -> None:
        self.app = app
        self.base_url = base_url
        self.ws_url = base_url.replace("http://", "ws://") + "/ws"
        self.http = http

    @property
    def sessions(self) -> int:
        return len(self.app[CONNECTIONS])

    async def connect(self, **start: object) -> LiveMindClient:
        return await LiveMindClient.connect(self.http, self.ws_url, **start)


@contextlib.asynccontextmanager
async def running_server(
    shared: SharedModels, limits: Limits | None = None, access: AccessPolicy | None = None
) -> AsyncIterator[RunningServer]:
    app = create_app(shared, limits, access)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession() as http:
            yield RunningServer(app, f"http://{host}:{port}", http)
    finally:
        await runner.cleanup()
