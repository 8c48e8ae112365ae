"""Two `serve` replicas behind a reverse proxy, both using one vLLM server through `--llm-url`
(README, "Serving many users"): real vLLM OpenAI server (SmolLM2), real replicas, real sockets.

A conversation stays on the replica that accepted its WebSocket; a replica killed mid-turn loses
only its own sessions, which are told with a close code; the other replica's answers go on."""

from __future__ import annotations

import asyncio
import os
import signal

import aiohttp
import pytest
from ws_proxy import SERVICE_RESTART, RoundRobinProxy

from voice_livemind.server.client import LiveMindClient, ServerClosed
from voice_livemind.server.process import serve_process

pytestmark = pytest.mark.engine

SHORT = "Name a colour of the sky."
LONG = "Explain in detail how a farmer grows wheat, from the seed to the harvest."


async def ask(client: LiveMindClient, text: str) -> list[dict]:
    await client.send_text(text, final=True)
    return await client.until("answer_done", 180)


async def test_two_replicas_keep_their_sessions_and_fail_alone(openai_server_url, tmp_path):
    options = [
        "--no-speech", "--llm-url", openai_server_url, "--max-answer-tokens", "160",
        "--max-sessions", "4",
    ]  # fmt: skip
    with (
        serve_process(options, tmp_path / "a.log") as replica_a,
        serve_process(options, tmp_path / "b.log") as replica_b,
    ):
        proxy = RoundRobinProxy([replica_a.url, replica_b.url])
        url = await proxy.start()
        try:
            async with aiohttp.ClientSession() as http:
                clients = [await LiveMindClient.connect(http, url, speech=False) for _ in range(4)]
                assert proxy.routes == [0, 1, 0, 1]
                # Two turns each: the second continues the same session (its turn number goes
                # on), so the conversation did not move to the other replica.
                for client in clients:
                    first = (await ask(client, SHORT))[-1]["turn"]
                    assert (await ask(client, SHORT))[-1]["turn"] == first + 1

                for client in clients:
                    await client.send_text(LONG, final=True)
                await clients[0].until("answer_first_token", 180)
                os.killpg(replica_a.process.pid, signal.SIGKILL)  # replica A dies mid-answer
                for lost in (clients[0], clients[2]):
                    with pytest.raises(ServerClosed):
                        while True:
                            await lost.receive(60)
                    assert lost.ws.close_code == SERVICE_RESTART
                done = await asyncio.gather(*(c.until("answer_done", 300) for c in clients[1::2]))
                assert all(messages[-1]["text"].strip() for messages in done)
                for client in clients:
                    await client.close()
        finally:
            await proxy.close()
