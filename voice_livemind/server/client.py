"""A small Python client for the server's protocol (used by the load benchmark and the tests)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Self

import aiohttp
import numpy as np

from ..audio.frames import SAMPLE_RATE
from ..audio.sinks import to_pcm16


class ServerClosed(ConnectionError):
    """The server closed the connection (`close_code`, and the last error it sent, if any)."""


class LiveMindClient:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []  # every message so far, in order
        self.ready: dict[str, Any] = {}

    @classmethod
    async def connect(
        cls,
        http: aiohttp.ClientSession,
        url: str,
        *,
        mode: str = "livemind",
        speech: bool = True,
        timeout_s: float = 30.0,
        **start: Any,
    ) -> Self:
        """Open `url` (ws://host:port/ws), send `start`, wait for `ready`."""
        client = cls(await http.ws_connect(url, max_msg_size=0))
        await client.send({"type": "start", "mode": mode, "speech": speech, **start})
        client.ready = (await client.until("ready", timeout_s))[-1]
        return client

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(message))

    async def send_text(self, text: str, final: bool = False) -> None:
        await self.send({"type": "text", "text": text, "final": final})

    async def end(self) -> None:
        await self.send({"type": "end"})

    async def send_audio(
        self, samples: np.ndarray, chunk_s: float = 0.1, realtime: bool = False
    ) -> None:
        """16 kHz float samples as PCM16 frames of `chunk_s`, paced like a microphone if asked."""
        step = round(chunk_s * SAMPLE_RATE)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for i in range(0, len(samples), step):
            await self.ws.send_bytes(to_pcm16(samples[i : i + step]))
            if realtime:
                await asyncio.sleep(max(0.0, started + (i + step) / SAMPLE_RATE - loop.time()))

    async def receive(self, timeout_s: float) -> dict[str, Any]:
        message = await self.ws.receive(timeout=timeout_s)
        if message.type != aiohttp.WSMsgType.TEXT:
            last_error = next((m for m in reversed(self.received) if m["type"] == "error"), None)
            raise ServerClosed(f"closed ({self.ws.close_code}); last error: {last_error}")
        data = json.loads(message.data)
        self.received.append(data)
        return data

    async def until(self, kind: str, timeout_s: float) -> list[dict[str, Any]]:
        """Messages up to and including the next one of type `kind`."""
        got: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"no {kind!r} message within {timeout_s:g} s")
            got.append(await self.receive(left))
            if got[-1]["type"] == kind:
                return got

    async def close(self) -> None:
        await self.ws.close()
