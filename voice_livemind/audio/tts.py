"""Text to speech, one sentence at a time, on one dedicated worker thread.

Two backends behind `SpeechSynthesizer`:
- "pyttsx3" (espeak-ng through its C library; SAPI5/NSSS on other systems), the default;
- "espeak-ng": the `espeak-ng --stdout` binary in a subprocess, used when pyttsx3 is missing
  or cannot start.

How pyttsx3 2.99 + espeak-ng 1.51 behave, and so why the code looks like this:
- `runAndWait()` returns ~10 ms after queueing, before espeak (asynchronous) has written the
  file. A second `save_to_file` queued meanwhile takes over the first one's file name, so the
  first audio lands in the wrong file. We wait for the `finished-utterance` notification.
- Property changes (rate, voice) go through espeak's own queue; `runAndWait` starts with a stop
  that cancels what is still queued, so a new rate can be lost. `espeak_Synchronize` before
  synthesising makes them stick.
- Consecutive `runAndWait` calls on one engine do not hang; a fresh engine per sentence also
  works but is 2-3x slower. espeak keeps process-wide state, so there is one engine per
  process, only ever touched from the worker thread.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from .errors import TtsError, one_line

Backend = Literal["auto", "pyttsx3", "espeak-ng"]
DEFAULT_RATE = 175  # words per minute: espeak-ng's own default (pyttsx3 would set 200)


class _DaemonThread(Executor):
    """Runs submitted calls one at a time, in order, on one daemon thread.

    Not a `ThreadPoolExecutor`: its threads are joined when the process exits, so an espeak
    call that never returns (a run loop whose end callback never comes) would keep a server
    from stopping on Ctrl-C. A daemon thread is abandoned at exit instead.
    """

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._calls.put((future, lambda: fn(*args, **kwargs)))
        return future

    def _run(self) -> None:
        while True:
            future, call = self._calls.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as exc:  # the caller gets it from the future
                future.set_exception(exc)


_worker: _DaemonThread | None = None
_worker_lock = threading.Lock()


def _tts_worker() -> _DaemonThread:
    """The process's single TTS thread: engines with global state must stay on one thread."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = _DaemonThread("tts")
        return _worker


class _Backend(Protocol):
    name: str

    def start(self) -> int:
        """Check the engine works (synthesise a probe); return its sample rate."""
        ...

    def synthesize(self, text: str) -> tuple[np.ndarray, int]: ...


class SpeechSynthesizer:
    """`await synthesize(text)` -> (float32 mono samples, sample rate) for one sentence.

    Construction starts the engine and speaks a probe on the worker thread, blocking for up to
    ~0.5 s the first time (importing pyttsx3): create it before the conversation starts.

    `rate`: words per minute (default 175); `voice`: an espeak voice such as "en-us" or
    "gmw/en-gb" (default: the engine's). Raises `TtsError` at construction if no backend works.
    """

    def __init__(
        self,
        rate: int | None = None,
        voice: str | None = None,
        backend: Backend = "auto",
        timeout_s: float = 20.0,
    ) -> None:
        names = ["pyttsx3", "espeak-ng"] if backend == "auto" else [backend]
        failures: list[str] = []
        for name in names:
            engine = _BACKENDS[name](rate=rate, voice=voice, timeout_s=timeout_s)
            try:
                self.sample_rate = _tts_worker().submit(engine.start).result()
            except Exception as exc:  # anything a backend raises means: try the next one
                failures.append(one_line(exc))
                continue
            self._engine: _Backend = engine
            return
        raise TtsError("no speech synthesiser works: " + "; ".join(failures))

    @property
    def backend(self) -> str:
        return self._engine.name

    async def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        if not text.strip():
            return np.zeros(0, dtype=np.float32), self.sample_rate
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_tts_worker(), self._engine.synthesize, text)


def _read_wav(data: bytes | Path) -> tuple[np.ndarray, int]:
    source = io.BytesIO(data) if isinstance(data, bytes) else str(data)
    with wave.open(source, "rb") as wav:
        if wav.getsampwidth() != 2:
            raise TtsError(f"expected 16-bit speech audio, got {8 * wav.getsampwidth()}-bit")
        channels, rate = wav.getnchannels(), wav.getframerate()
        # readframes(huge): `espeak-ng --stdout` writes a placeholder length in its header.
        pcm = np.frombuffer(wav.readframes(2**31 - 1), dtype="<i2")
    samples = pcm.astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1)
    return samples, rate


class _Pyttsx3Shared:
    """State of the one pyttsx3 engine in this process (touched on the worker thread only)."""

    engine: Any = None
    default_voice: str | None = None
    finished = threading.Event()
    errors: list[str] = []  # noqa: RUF012 - deliberately shared
    applied: dict[str, object] = {}  # noqa: RUF012 - properties already set on the engine
    files: tempfile.TemporaryDirectory[str] | None = None  # made with the engine
    counter = itertools.count()


class _Pyttsx3Backend:
    name = "pyttsx3"

    def __init__(self, rate: int | None, voice: str | None, timeout_s: float) -> None:
        self.rate, self.voice, self.timeout_s = rate or DEFAULT_RATE, voice, timeout_s

    def start(self) -> int:
        return self.synthesize("ok")[1]

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        try:
            return self._synthesize_once(text)
        except _NoAudioError:
            # espeak occasionally reports the utterance finished and never writes its samples
            # (seen under load); a fresh engine gets it right.
            _Pyttsx3Shared.engine = None
            try:
                return self._synthesize_once(text)
            except _NoAudioError as exc:
                _Pyttsx3Shared.engine = None
                raise TtsError(f"pyttsx3 wrote no audio for {text[:40]!r}") from exc

    def _synthesize_once(self, text: str) -> tuple[np.ndarray, int]:
        shared = _Pyttsx3Shared
        engine = self._engine()
        shared.errors.clear()
        # The engine is shared: set every property, so one synthesizer's voice never leaks
        # into another's.
        settings = {"rate": self.rate, "voice": self.voice or shared.default_voice}
        for key, value in settings.items():
            if shared.applied.get(key) != value:
                engine.setProperty(key, value)
                shared.applied[key] = value
        if engine.driver_name == "espeak":
            from pyttsx3.drivers import _espeak

            _espeak.Synchronize()  # let queued property changes land before the next stop()
        assert shared.files is not None
        path = Path(shared.files.name) / f"{next(shared.counter)}.wav"  # unique: see module doc
        shared.finished.clear()
        try:
            engine.save_to_file(text, str(path))
            engine.runAndWait()
        except Exception as exc:  # e.g. "run loop already started": this engine is stuck
            shared.engine = None
            raise TtsError(f"pyttsx3 failed: {one_line(exc)}") from exc
        if not shared.finished.wait(self.timeout_s) or not path.exists():
            shared.engine = None  # start over with a fresh engine next time
            raise TtsError(f"pyttsx3 produced no audio within {self.timeout_s:.0f} s")
        try:
            if shared.errors:
                shared.applied.clear()
                raise TtsError(f"pyttsx3 failed: {shared.errors[0]}")
            if not _wait_until_written(path, min(self.timeout_s, _WRITE_WAIT_S)):
                raise _NoAudioError
            return _read_wav(path)
        finally:
            path.unlink(missing_ok=True)

    def _engine(self) -> Any:
        shared = _Pyttsx3Shared
        if shared.engine is not None:
            return shared.engine
        try:
            import pyttsx3

            engine = pyttsx3.init()
        except Exception as exc:  # ImportError, or RuntimeError when espeak-ng is missing
            raise TtsError(
                f"pyttsx3 unavailable ({one_line(exc)}): pip install pyttsx3; "
                "apt-get install espeak-ng"
            ) from exc
        _silence_espeak_driver()
        engine.connect("finished-utterance", _on_finished)
        engine.connect("error", _on_error)
        # A new engine queues its first commands until a run loop has started once; run an
        # empty loop so later property changes apply at once (and report errors at once).
        engine.runAndWait()
        shared.engine, shared.applied = engine, {}
        if shared.files is None:  # removed when the process exits
            shared.files = tempfile.TemporaryDirectory(prefix="voice-livemind-tts-")
        shared.default_voice = shared.default_voice or engine.getProperty("voice")
        return engine


# After "finished", how long a file with no samples yet may still get them. The driver writes
# the file before it reports the end, so a header alone means the report was a previous
# utterance's, late, and ours is still being synthesised. Retrying on a fresh engine while it is
# may let the old synthesis's callbacks end the new engine's run loop early, or never. So wait
# generously: it is rare, and a long wait costs less than a broken retry.
_WRITE_WAIT_S = 5.0


class _NoAudioError(Exception):
    """The engine reported the utterance finished but its file holds no samples."""


def _wait_until_written(path: Path, timeout_s: float) -> bool:
    """The espeak driver may still be writing when it reports the utterance finished (seen
    under load: a header and no samples); wait until the file has audio and stops growing.
    False when it never got any."""
    deadline = time.monotonic() + timeout_s
    size = -1
    while time.monotonic() < deadline:
        now = path.stat().st_size
        if now == size and now > 44:  # 44 bytes: a WAV header alone
            return True
        size = now
        time.sleep(0.02)
    return size > 44


def _on_finished(name: object = None, completed: bool = True, **_: object) -> None:
    # completed=False comes from the driver's stop(), which cancels leftovers, not our file.
    if completed:
        _Pyttsx3Shared.finished.set()


def _on_error(name: object = None, exception: object = None, **_: object) -> None:
    _Pyttsx3Shared.errors.append(one_line(str(exception)))


def _silence_espeak_driver() -> None:
    """pyttsx3's espeak driver prints "Audio saved to <file>" for every file, from espeak's own
    thread, into the user's terminal; shadow `print` in that module only."""
    module = sys.modules.get("pyttsx3.drivers.espeak")
    if module is not None:
        module.print = lambda *args, **kwargs: None  # type: ignore[attr-defined]


class _EspeakNgBackend:
    name = "espeak-ng"

    def __init__(self, rate: int | None, voice: str | None, timeout_s: float) -> None:
        self.binary = shutil.which("espeak-ng")
        self.options = ["-s", str(rate or DEFAULT_RATE), *(["-v", voice] if voice else [])]
        self.timeout_s = timeout_s

    def start(self) -> int:
        if self.binary is None:
            raise TtsError("espeak-ng binary not found: apt-get install espeak-ng")
        return self.synthesize("ok")[1]

    def synthesize(self, text: str) -> tuple[np.ndarray, int]:
        # Text on stdin, so a sentence starting with "-" is never taken for an option.
        try:
            done = subprocess.run(
                [self.binary or "espeak-ng", "--stdout", *self.options],
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=self.timeout_s,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TtsError(f"espeak-ng failed: {one_line(exc)}") from exc
        if done.returncode != 0 or not done.stdout:
            reason = one_line(done.stderr.decode(errors="replace")) or f"exit {done.returncode}"
            raise TtsError(f"espeak-ng failed: {reason}")
        return _read_wav(done.stdout)


_BACKENDS: dict[str, type[_Pyttsx3Backend] | type[_EspeakNgBackend]] = {
    "pyttsx3": _Pyttsx3Backend,
    "espeak-ng": _EspeakNgBackend,
}
