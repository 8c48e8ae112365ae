"""`voice-livemind bench`: the paper's text-replay benchmark on MMLU / MMLU-Pro.

Each sampled question is typed into a fresh session at the set speed and answered, in LiveMind
mode, in the chain-of-thought baseline, or both (same engine, same questions, alternating, so
the comparison is side by side). Results are appended to a JSONL file as each question
finishes; re-running the same command resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..events import Event, EventBus
from ..livemind.config import Mode, SessionConfig
from ..livemind.prompts import FINAL_INSTRUCTION
from ..livemind.session import LiveMindSession
from ..livemind.text_source import (
    VirtualClock,
    feed_points,
    replay_text,
    replay_text_simulated,
)
from ..llm.base import ChatEngine, EngineError
from .datasets import Question, iter_jsonl, load_questions, sample_questions
from .record import build_record


@dataclass(frozen=True)
class BenchSettings:
    """What makes two runs comparable; stored in every result line, checked on resume."""

    dataset: str
    n: int | None
    seed: int
    speed_cpm: float
    timing: str  # "simulated" (the paper's clock) | "realtime" | "keep-up" (accuracy only)
    options: str  # "at-end" (the paper: options arrive at once) | "streamed" (as when spoken)
    format: str
    granularity: str
    min_segment_chars: int
    end_policy: str
    max_inference_tokens: int
    max_answer_tokens: int
    answer_prefix: str  # how LiveMind's final reply opens
    model: str
    answer_model: str
    # How the answer letter is chosen: constrained to the question's labels, and asked for in
    # one continuation when a reply states none (results before this were free text).
    letter: str = "constrained"
    final_instruction: str = FINAL_INSTRUCTION  # what LiveMind's final step is told
    # Also change results; defaulted for callers that use the session defaults.
    repetition_penalty: float = SessionConfig().answer.repetition_penalty  # the answer's
    free_actions: bool = False  # inference replies not constrained to the action format
    max_model_len: int = 2048  # the engine's context: how much history fits
    concurrency: int = 1  # simulated users at once: latencies depend on it


def question_text(question: Question, options: str) -> tuple[str, str]:
    """(typed part, part delivered at once at the end) for the chosen options setting."""
    typed = question.question.rstrip() + "\n"
    if options == "streamed":
        return typed + question.options_text, ""
    return typed, question.options_text


async def replay_keeping_up(session: LiveMindSession, text: str, tail: str = "") -> None:
    """Feed `text` one piece at a time, each once the session has thought about the one
    before, then `tail`, and end the input: the method as on a machine that keeps up with the
    typing. For accuracy runs on a loaded or shared machine, where the paper's clock would end
    the input while every inference is still queued; its latencies mean nothing."""
    fed = 0
    for point in feed_points(text, session.config.granularity):
        session.feed(text[fed:point])
        fed = point
        await asyncio.sleep(0)  # let the session start thinking on what just arrived
        await session.until_idle()
    session.feed(tail)
    await session.end()


def drain_events(queue: asyncio.Queue[Event | None]) -> list[Event]:
    events = []
    while not queue.empty():
        event = queue.get_nowait()
        if event is not None:
            events.append(event)
    return events


async def run_question(
    engine: ChatEngine,
    answer_engine: ChatEngine | None,
    question: Question,
    mode: Mode,
    config: SessionConfig,
    settings: BenchSettings,
) -> dict[str, Any]:
    """Type one question into a fresh session and return its result line."""
    bus = EventBus()
    queue = bus.subscribe()
    session = LiveMindSession(
        engine, replace(config, mode=mode), answer_engine=answer_engine, bus=bus
    )
    typed, tail = question_text(question, settings.options)
    start = session.clock.now()
    clock = VirtualClock([(start, 0.0)])
    error = None
    try:
        if settings.timing == "simulated":
            _, clock = await replay_text_simulated(session, typed, settings.speed_cpm, tail)
        elif settings.timing == "keep-up":
            await replay_keeping_up(session, typed, tail)
        else:
            await replay_text(session, typed, settings.speed_cpm, tail)
    except EngineError as exc:
        error = str(exc)
    finally:
        await session.close()
    run = asdict(settings)
    return build_record(question, mode.value, run, drain_events(queue), clock.virtual, start, error)


def _drop_cut_line(path: Path) -> None:
    """Remove a last line that a crash cut short, so the file stays valid JSONL."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as file:
            file.truncate(data.rfind(b"\n") + 1)


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


Item = TypeVar("Item", bound=_HasId)


def _lock(file: IO[str], path: Path) -> None:
    """Hold `path` for this run alone: two runs appending to one file interleave their lines
    (and each resumes without the other's results)."""
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise ValueError(
            f"{path} is being written by another run; wait for it or pass another --output"
        ) from None


def check_output_free(path: Path) -> None:
    """Fail now, before any model loads, if another run is writing `path`."""
    if path.exists():
        with path.open("a", encoding="utf-8") as file:
            _lock(file, path)


def _read_done(path: Path, settings: Any) -> set[tuple[str, str]]:
    """(question id, mode) pairs already in `path`; refuses a file from different settings."""
    done: set[tuple[str, str]] = set()
    if not path.exists():
        return done
    _drop_cut_line(path)
    wanted = asdict(settings)
    for where, record in iter_jsonl(path, invalid="not a result line"):
        try:
            run = {k: v for k, v in record["run"].items() if k != "mode"}
            key = (record["id"], record["mode"])
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{where}: not a result line ({exc})") from exc
        if run != wanted:
            changed = sorted(k for k in wanted if run.get(k) != wanted[k])
            raise ValueError(
                f"{where} was made with other settings ({', '.join(changed)}); "
                "pass --overwrite or another --output"
            )
        done.add(key)
    return done


def plan_jobs(
    questions: Sequence[Item], modes: list[Mode], done: set[tuple[str, str]]
) -> list[tuple[Item, Mode]]:
    """Every (question, mode) still to run, modes alternating per question."""
    return [(q, m) for q in questions for m in modes if (q.id, m.value) not in done]


def _summary_line(record: dict[str, Any]) -> str:
    latency = record["latency_s"]
    shown = "error" if record["error"] else f"{latency:.2f} s"
    verdict = "correct" if record["correct"] else "wrong"
    return f"{record['id']} {record['mode']}: {shown}, {verdict}"


@contextlib.contextmanager
def _progress(total: int, name: str = "bench") -> Iterator[Progress]:
    progress = Progress(
        TextColumn(f"[bold]{name}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        disable=not sys.stderr.isatty(),
        console=None,
    )
    with progress:
        yield progress


async def run_bench(
    engine: ChatEngine,
    answer_engine: ChatEngine | None,
    config: SessionConfig,
    settings: BenchSettings,
    modes: list[Mode],
    output: Path,
    concurrency: int = 1,
    data: str | None = None,
    questions: Sequence[Question] | None = None,
    overwrite: bool = False,
) -> int:
    """Run what is not in `output` yet; return how many results were written. `questions`:
    the sample already loaded (the command line loads it before the model)."""
    if questions is None:
        questions = sample_questions(
            load_questions(data or settings.dataset), settings.n, settings.seed
        )

    async def run_one(question: Question, mode: Mode) -> dict[str, Any]:
        return await run_question(engine, answer_engine, question, mode, config, settings)

    return await run_jobs(
        questions, modes, settings, output, run_one, concurrency, overwrite=overwrite
    )


async def run_jobs(
    items: Sequence[Item],
    modes: list[Mode],
    settings: Any,
    output: Path,
    run_one: Callable[[Item, Mode], Awaitable[dict[str, Any]]],
    concurrency: int = 1,
    summary: Callable[[dict[str, Any]], str] = _summary_line,
    name: str = "bench",
    overwrite: bool = False,
) -> int:
    """Run every (item, mode) not in `output` yet, appending one result line each as it
    finishes; resume, refusal of other settings, the lock on `output` and progress are the same
    for every bench. `settings` is a dataclass of what makes two runs comparable."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("a", encoding="utf-8") as out:
        _lock(out, output)
        if overwrite:
            out.truncate(0)
        return await _run_locked(
            items, modes, settings, output, out, run_one, concurrency, summary, name
        )


async def _run_locked(
    items: Sequence[Item],
    modes: list[Mode],
    settings: Any,
    output: Path,
    out: IO[str],
    run_one: Callable[[Item, Mode], Awaitable[dict[str, Any]]],
    concurrency: int,
    summary: Callable[[dict[str, Any]], str],
    name: str,
) -> int:
    jobs = plan_jobs(items, modes, _read_done(output, settings))
    skipped = len(items) * len(modes) - len(jobs)
    if skipped:
        print(f"resuming {output}: {skipped} results already there", file=sys.stderr)
    slots = asyncio.Semaphore(max(1, concurrency))
    written = 0
    with _progress(len(jobs), name) as progress:
        task = progress.add_task("", total=len(jobs))

        async def one(item: Item, mode: Mode) -> None:
            nonlocal written
            async with slots:
                record = await run_one(item, mode)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()  # each result is on disk before the next question starts
            written += 1
            progress.update(task, advance=1, description=summary(record))
            if progress.disable:
                print(f"[{written}/{len(jobs)}] {summary(record)}", file=sys.stderr)

        pending = [asyncio.create_task(one(q, m)) for q, m in jobs]
        try:
            await asyncio.gather(*pending)
        finally:
            for job in pending:
                job.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
    return written


async def run_to_file(
    bench: Awaitable[int], output: Path, engines: Iterable[ChatEngine | None]
) -> int:
    """Await `bench` (a benchmark appending to `output`) and return how many results it wrote,
    closing `engines` however it ends. The user is told where the results are, and after Ctrl-C
    (asyncio.run cancels the task) that running the same command again resumes."""
    try:
        written = await bench
    except asyncio.CancelledError:
        print(f"interrupted: results so far are in {output}; run again to resume", file=sys.stderr)
        raise
    finally:
        for engine in engines:
            if engine is not None:
                await engine.close()
    print(f"{written} results written to {output}; see: voice-livemind analyze {output}")
    return written
