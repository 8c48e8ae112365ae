"""`serve` with the real vLLM engine under two faults: SIGTERM (it must close its sessions and
its engine, leaving no process behind) and a kill -9 of the engine process mid-answer (the
session is told, and the server stops cleanly instead of hanging or answering nothing).

Each test starts its own server in its own process group, so "nothing left behind" is checked
as "no process left in that group".
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import psutil
import pytest

from voice_livemind.server.client import LiveMindClient, ServerClosed
from voice_livemind.server.process import serve_process

pytestmark = pytest.mark.engine

QUESTION = "Explain in detail how a farmer grows wheat, from the seed to the harvest."


@contextlib.contextmanager
def serving(log: Path) -> Iterator[tuple[subprocess.Popen, str]]:
    options = ["--no-speech", "--max-answer-tokens", "200"]
    with serve_process(options, log, stop_signal=signal.SIGKILL) as server:
        yield server.process, server.ws_url


def group_alive(pgid: int) -> list[str]:
    """The processes still in process group `pgid`."""
    return [
        f"{p.pid} {p.info['name']}"
        for p in psutil.process_iter(["name"])
        if _pgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE
    ]


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def wait_for_exit(server: subprocess.Popen, timeout_s: float) -> int:
    try:
        return server.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        server.send_signal(signal.SIGUSR1)  # serve prints every thread's stack to its log
        time.sleep(2)
        pytest.fail(f"serve did not exit within {timeout_s:g} s")


def wait_for_group_gone(pgid: int, timeout_s: float) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while (left := group_alive(pgid)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def engine_processes(server: subprocess.Popen) -> list[psutil.Process]:
    engines = []
    for child in psutil.Process(server.pid).children(recursive=True):
        try:  # a child may exit (or be a zombie) between listing and reading it
            if "EngineCore" in " ".join([child.name(), *child.cmdline()]):
                engines.append(child)
        except psutil.NoSuchProcess:
            continue
    return engines


async def test_sigterm_closes_sessions_and_the_engine_and_leaves_no_process(tmp_path):
    log = tmp_path / "serve.log"
    with serving(log) as (server, url):
        assert engine_processes(server), "no engine process to watch"
        async with aiohttp.ClientSession() as http:
            client = await LiveMindClient.connect(http, url, speech=False)
            server.send_signal(signal.SIGTERM)
            with pytest.raises(ServerClosed):
                await client.until("never", 60)
            assert client.ws.close_code == 1001  # going away: told, not dropped
        assert await asyncio.to_thread(wait_for_exit, server, 60) == 0
        left = await asyncio.to_thread(wait_for_group_gone, server.pid, 30)
        assert not left, f"left behind: {left}; log: {log.read_text()[-2000:]}"


async def test_a_killed_engine_is_reported_and_the_server_stops_cleanly(tmp_path):
    log = tmp_path / "serve.log"
    with serving(log) as (server, url):
        async with aiohttp.ClientSession() as http:
            client = await LiveMindClient.connect(http, url, speech=False)
            await client.send_text(QUESTION, final=True)
            await client.until("answer_first_token", 120)  # mid-answer
            for process in engine_processes(server):
                process.kill()  # kill -9
            # The session hears of it (an error, or the close as the server stops): no hang.
            with contextlib.suppress(ServerClosed):
                while (await client.receive(60))["type"] not in ("error", "answer_done"):
                    pass
        code = await asyncio.to_thread(wait_for_exit, server, 60)
        assert code == 1 and "the LLM engine died" in log.read_text()
        left = await asyncio.to_thread(wait_for_group_gone, server.pid, 30)
        assert not left, f"left behind: {left}; log: {log.read_text()[-2000:]}"


def test_sigterm_stops_a_benchmark_and_its_engine_and_it_resumes(tmp_path):
    """A benchmark stopped as a job scheduler stops it (SIGTERM) keeps its results, tells the
    user how to resume, and leaves no engine process behind."""
    output = tmp_path / "bench.jsonl"
    log = tmp_path / "bench.log"
    command = [
        sys.executable, "-m", "voice_livemind.cli", "bench", "-n", "3", "--mode", "both",
        "--max-answer-tokens", "200", "--output", str(output),
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
    with open(log, "w") as out:
        bench = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 600
        while not engine_processes(bench) or not output.exists() or not output.read_text():
            assert bench.poll() is None, f"bench ended early: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "bench wrote no result in 600 s"
            time.sleep(0.5)
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=60) == 143
        left = wait_for_group_gone(bench.pid, 30)
        assert not left, f"left behind: {left}; log: {log.read_text()[-2000:]}"
        assert "run again to resume" in log.read_text()
        assert 1 <= len(output.read_text().splitlines()) < 6
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(bench.pid, signal.SIGKILL)
        bench.wait()
