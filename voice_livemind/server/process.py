"""`voice-livemind serve` as a child process, for whoever drives it from outside: the tests, the
load and soak benchmarks, several replicas on one box.

The server runs in its own process group, so stopping it also reaches the engine's worker
processes; it counts as up once it prints the address it listens on.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

LISTENING = re.compile(r"serving on (http://\S+?)/? ")


class ServeFailed(RuntimeError):
    """The server exited, did not come up in time, or ignored the signal to stop."""


@dataclass(frozen=True)
class ServeProcess:
    process: subprocess.Popen[bytes]
    url: str  # http://host:port
    log: Path

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/ws"


@contextlib.contextmanager
def serve_process(
    options: Sequence[str],
    log: Path,
    stop_signal: signal.Signals = signal.SIGINT,
    start_timeout_s: float = 600.0,  # a busy machine starts vLLM slowly
    stop_timeout_s: float = 60.0,
) -> Iterator[ServeProcess]:
    """Start `voice-livemind serve --port 0 OPTIONS` (its output to `log`), yield it once it
    listens, and stop it with `stop_signal` (Ctrl-C by default, SIGTERM as a service manager
    does); whatever is left of its process group is killed."""
    command = [sys.executable, "-m", "voice_livemind.cli", "serve", "--port", "0", *options]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        server = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + start_timeout_s
        while not (found := LISTENING.search(log.read_text(errors="replace"))):
            if server.poll() is not None:
                raise ServeFailed(f"serve exited ({server.returncode}): {_tail(log)}")
            if time.monotonic() > deadline:
                raise ServeFailed(f"serve did not come up in {start_timeout_s:.0f} s: {_tail(log)}")
            time.sleep(0.5)
        yield ServeProcess(server, found.group(1), log)
        if server.poll() is None:
            server.send_signal(stop_signal)
            try:
                server.wait(timeout=stop_timeout_s)
            except subprocess.TimeoutExpired:
                server.send_signal(signal.SIGUSR1)  # serve prints every thread's stack
                time.sleep(2)
                raise ServeFailed(
                    f"serve ignored {stop_signal.name} for {stop_timeout_s:.0f} s: {_tail(log)}"
                ) from None
    finally:
        with contextlib.suppress(ProcessLookupError):  # an engine worker left behind
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def _tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:]
