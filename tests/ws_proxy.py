"""A tiny WebSocket reverse proxy for the replica tests: each connection goes to the next backend
in turn and stays there for its whole life, as an ordinary reverse proxy (nginx, HAProxy; see the
README, "Serving many users") keeps a proxied WebSocket on the upstream that accepted it.

When its backend goes away without a close frame (a killed replica), the client's connection is
closed with 1012 ("service restart"), so the page can say the server went away rather than
hang."""

from __future__ import annotations

import asyncio
import itertools

import aiohttp
from aiohttp import web

SERVICE_RESTART = 1012


class RoundRobinProxy:
    def __init__(self, backends: list[str]) -> None:
        self.backends = backends  # http://host:port of each replica
        self._next = itertools.cycle(range(len(backends)))
        self.routes: list[int] = []  # the backend index of each connection, in order
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Listen on a free port of 127.0.0.1; the proxy's ws:// URL."""
        app = web.Application()
        app.router.add_get("/ws", self._relay)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"ws://{host}:{port}/ws"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _relay(self, request: web.Request) -> web.WebSocketResponse:
        index = next(self._next)
        self.routes.append(index)
        client = web.WebSocketResponse()
        await client.prepare(request)
        upstream_url = self.backends[index].replace("http://", "ws://") + request.path_qs
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(upstream_url, autoclose=False) as upstream,
        ):
            down = asyncio.create_task(_pump(upstream, client))
            up = asyncio.create_task(_pump(client, upstream))
            await asyncio.wait([down, up], return_when=asyncio.FIRST_COMPLETED)
            for task in (down, up):
                task.cancel()
            code = upstream.close_code
            if code is None or code == aiohttp.WSCloseCode.ABNORMAL_CLOSURE:
                code = SERVICE_RESTART
            await client.close(code=code)
            await upstream.close()
        return client


async def _pump(source, target) -> None:
    async for message in source:
        if message.type == aiohttp.WSMsgType.TEXT:
            await target.send_str(message.data)
        elif message.type == aiohttp.WSMsgType.BINARY:
            await target.send_bytes(message.data)
        else:
            return
