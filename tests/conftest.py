"""Shared fixtures. Real-engine fixtures are module-scoped so at most one vLLM engine is alive
at a time: this machine has two cores and each engine pins one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QUESTION = (
    "A farmer has 17 sheep and buys 5 more. Then a storm scares away 8 of them. "
    "The next day 3 of the lost sheep come back. How many sheep does the farmer have now? "
    "Options: (A) 14 (B) 17 (C) 9 (D) 22"
)


@pytest.fixture(scope="session")
def model_dir() -> str:
    from voice_livemind.llm.models import resolve_model

    return resolve_model()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def openai_server_url(model_dir, tmp_path_factory):
    """A real vLLM OpenAI-compatible server (SmolLM2 as "smollm2") on 127.0.0.1; its /v1 URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "vllm.log"
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", model_dir, "--served-model-name", "smollm2",
        "--host", "127.0.0.1", "--port", str(port),
        "--dtype", "bfloat16", "--max-model-len", "2048", "--enforce-eager",
        "--enable-prompt-tokens-details",
    ]  # fmt: skip
    # On CPU the KV cache must be sized explicitly or the server refuses to start when other
    # processes hold memory (see README, "Serving on a CPU").
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    with open(log, "w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600  # ~40 s on a quiet 2-core machine, minutes on a busy one
    try:
        while True:
            if server.poll() is not None:
                pytest.fail(f"vLLM server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("vLLM server did not come up in 600 s")
            time.sleep(1)
        yield f"{url}/v1"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
