"""The terminal view: a subscriber that shows the session's events as a person can follow them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from ..asr.events import SpeechEnded, SpeechStarted, UtteranceEnded, WordsCommitted
from ..audio.events import TtsFirstAudio
from ..events import (
    AnswerDelta,
    AnswerDone,
    AnswerStarted,
    ErrorEvent,
    Event,
    InferenceAborted,
    InferenceDone,
    InputEnded,
    InputRevised,
    SpeculationDiscarded,
    SpeculationStarted,
)
from ..livemind.session import TurnResult
from ..voice.repeat import RepeatRequested

if TYPE_CHECKING:
    from ..voice.metrics import VoiceTurn


@contextlib.contextmanager
def output_hidden(log_path: Path) -> Iterator[None]:
    """Send stderr to `log_path` while models load: vLLM's and Triton's notes, NUMA warnings,
    FutureWarnings and progress bars come from this process and from the engine processes
    it starts, which inherit the redirected stderr and keep writing there. A person running
    the demo sees the terminal view only; the log has the rest."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def hide_library_warnings() -> None:
    """Deprecation notes from the libraries (torch, vLLM) say nothing to a user of the demo."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


class TerminalView:
    """Typed input on one line, each inference on its own line beneath, then the answer."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)
        self._at_line_start = True

    def typed(self, text: str) -> None:
        self.console.print(text, end="", style="bold", markup=False)
        self._at_line_start = text.endswith("\n")

    def _line(self, text: str, style: str) -> None:
        if not self._at_line_start:
            self.console.print()
        self.console.print(text, style=style, markup=False)
        self._at_line_start = True

    def show(self, event: Event) -> None:
        match event:
            case InferenceDone(action="inference"):
                self._line(f"  [{event.t:6.2f}s] inference: {event.text}", "cyan")
            case InferenceDone():
                self._line(f"  [{event.t:6.2f}s] wait", "dim")
            case InferenceAborted():
                self._line(f"  [{event.t:6.2f}s] inference aborted ({event.reason})", "dim")
            case InputRevised():
                self._line(f"  [{event.t:6.2f}s] input revised", "yellow")
            case InputEnded():
                self._line(f"  [{event.t:6.2f}s] input ended", "dim")
            case AnswerStarted():
                self.console.print("Answer: ", end="", style="green bold")
                self._at_line_start = False
            case AnswerDelta():
                self.console.print(event.text, end="", style="green", markup=False)
            case AnswerDone():
                self.console.print()
                self._at_line_start = True
            case ErrorEvent():
                self._line(f"error: {event.message}", "red")
            case SpeechStarted():
                self._line(f"  [{event.t:6.2f}s] speech started", "dim")
            case WordsCommitted():
                self.typed(event.text)
            case SpeechEnded():
                self._line(f"  [{event.t:6.2f}s] speech ended at {event.audio_t:.2f}s", "dim")
            case UtteranceEnded():
                self._line(f"  [{event.t:6.2f}s] end of utterance", "dim")
            case SpeculationStarted():
                self._line(f"  [{event.t:6.2f}s] pause: answer prepared speculatively", "dim")
            case SpeculationDiscarded():
                self._line(
                    f"  [{event.t:6.2f}s] speculative answer dropped ({event.reason})", "dim"
                )
            case RepeatRequested():
                self._line(
                    f"  [{event.t:6.2f}s] transcript too uncertain (confidence "
                    f"{event.confidence:.2f} < {event.threshold:.2f}): not answered",
                    "yellow",
                )
                self._line(f"Assistant: {event.line}", "green bold")
            case TtsFirstAudio():
                self._line(f"  [{event.t:6.2f}s] speaking", "dim")

    async def consume(self, queue: asyncio.Queue[Event | None]) -> None:
        while (event := await queue.get()) is not None:
            self.show(event)

    def ready(self, mode: str, command: str, model: str, timings: dict[str, float]) -> None:
        """Start-up is over: what loaded, and how long each part took."""
        parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items())
        total = sum(timings.values())
        self.console.print(
            f"{mode}: ready in {total:.1f} s ({parts}); listening ({command}) with {model}",
            style="dim",
            markup=False,
        )

    def voice_summary(self, turn: VoiceTurn, mode: str) -> None:
        def seconds(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.2f} s"

        self.console.print(
            f"{mode}: end of speech -> first audio {seconds(turn.end_of_speech_to_first_audio_s)}, "
            f"-> answer complete {seconds(turn.end_of_speech_to_answer_s)}; "
            f"{turn.inferences_before_speech_end} inferences before speech ended",
            style="bold",
            markup=False,
        )

    def summary(self, result: TurnResult, mode: str) -> None:
        ttft = "n/a" if result.ttft_s is None else f"{result.ttft_s:.2f} s"
        self.console.print(
            f"{mode}: latency {result.latency_s:.2f} s from end of input "
            f"(first token {ttft}), {len(result.inferences)} inferences while typing, "
            f"{result.tokens.generated_tokens} tokens after input ended",
            style="bold",
            markup=False,
        )
