"""The text-replay benchmark: the paper's clock, result lines, resume after interruption."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest
from scripted_engine import ScriptedEngine

from voice_livemind.bench.datasets import Question, load_questions
from voice_livemind.bench.text_replay import BenchSettings, question_text, run_bench, run_to_file
from voice_livemind.events import EventBus, InferenceAborted, InferenceStarted, InputEnded
from voice_livemind.livemind.config import Mode, SessionConfig
from voice_livemind.livemind.session import LiveMindSession
from voice_livemind.livemind.text_source import feed_points, replay_text_simulated

TEXT = "The sun is a star. It is very hot. How hot is its surface? "

SETTINGS = BenchSettings(
    dataset="mmlu-pro",
    n=3,
    seed=42,
    speed_cpm=60000.0,
    timing="simulated",
    options="at-end",
    format="ua-spi",
    granularity="sent",
    min_segment_chars=10,
    end_policy="abort",
    max_inference_tokens=48,
    max_answer_tokens=64,
    answer_prefix="",
    model="scripted",
    answer_model="scripted",
)
BOTH = [Mode.LIVEMIND, Mode.BASELINE]


def answer_b(messages, settings):
    from scripted_engine import is_answer_prompt

    return "The answer is (B)." if is_answer_prompt(messages) else "action inference. ok."


def test_feed_points_cover_word_ends_and_segment_starts():
    points = feed_points(TEXT, "sent")
    assert points[-1] == len(TEXT) and points == sorted(set(points))
    # The first character of the second sentence completes the first one.
    assert TEXT.index("It") + 1 in points
    assert TEXT.index("The sun ") + len("The ") in points
    assert feed_points("abc", "char") == [1, 2, 3]


async def test_simulated_clock_jumps_over_idle_typing():
    engine = ScriptedEngine(delay=0.01)
    bus = EventBus()
    events = bus.subscribe()
    session = LiveMindSession(engine, SessionConfig(), bus=bus)
    loop = asyncio.get_running_loop()
    started = loop.time()
    # 60 characters/min: the text takes a minute to type on the paper's clock.
    result, clock = await replay_text_simulated(session, TEXT, cpm=60)
    assert loop.time() - started < 5
    seen = []
    while not events.empty():
        seen.append(events.get_nowait())
    ended = next(e for e in seen if isinstance(e, InputEnded))
    start_t = clock.shifts[0][0]
    assert clock.virtual(ended.t) - clock.virtual(start_t) == pytest.approx(len(TEXT) - 1, abs=0.3)
    # Each inference starts once the next sentence has begun, on the virtual clock.
    first = next(e for e in seen if isinstance(e, InferenceStarted))
    assert clock.virtual(first.t) - clock.virtual(start_t) >= TEXT.index("It")
    assert result.inferences and result.latency_s >= 0


async def test_simulated_clock_runs_with_the_wall_when_the_model_is_busy():
    # Inferences take longer than the rest of the typing: input ends while one is in flight,
    # and the default policy aborts it.
    engine = ScriptedEngine(delay=lambda m, s: 0.0 if s.regex is None else 0.5)
    bus = EventBus()
    events = bus.subscribe()
    session = LiveMindSession(engine, SessionConfig(), bus=bus)
    result, _ = await replay_text_simulated(session, TEXT, cpm=6000)
    seen = []
    while not events.empty():
        seen.append(events.get_nowait())
    assert result.in_flight_at_end
    assert any(isinstance(e, InferenceAborted) for e in seen)


def test_question_text_puts_options_at_the_end_or_in_the_stream():
    q = Question("q1", "mmlu", "x", "Which is red?", ("apple", "sky"), "A")
    typed, tail = question_text(q, "at-end")
    assert typed == "Which is red?\n" and tail == q.options_text
    typed, tail = question_text(q, "streamed")
    assert typed == "Which is red?\n" + q.options_text and tail == ""


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_bench_writes_one_line_per_question_and_mode(tmp_path):
    out = tmp_path / "r.jsonl"
    engine = ScriptedEngine(answer_b)
    written = await run_bench(engine, None, SessionConfig(), SETTINGS, BOTH, out)
    records = read_lines(out)
    assert written == 6 and len(records) == 6
    assert {r["mode"] for r in records} == {"livemind", "baseline"}
    assert [r["mode"] for r in records[:2]] == ["livemind", "baseline"]  # side by side
    questions = {q.id: q for q in load_questions("mmlu-pro")}
    for r in records:
        assert r["predicted"] == "B" and r["parsed"]
        assert r["correct"] == (questions[r["id"]].answer == "B")
        assert r["latency_s"] >= r["ttft_s"] >= 0 and r["error"] is None
        assert r["run"]["mode"] == r["mode"] and r["run"]["n"] == 3
    baseline = [r for r in records if r["mode"] == "baseline"]
    assert all(r["actions"] == 0 for r in baseline)


async def test_rerunning_resumes_and_refuses_other_settings(tmp_path):
    out = tmp_path / "r.jsonl"
    engine = ScriptedEngine(answer_b)
    await run_bench(engine, None, SessionConfig(), SETTINGS, BOTH, out)
    calls_before = len(engine.calls)
    assert await run_bench(engine, None, SessionConfig(), SETTINGS, BOTH, out) == 0
    assert len(engine.calls) == calls_before
    other = replace(SETTINGS, speed_cpm=120.0)
    with pytest.raises(ValueError, match=r"r\.jsonl line 1 was made with other settings"):
        await run_bench(engine, None, SessionConfig(), other, BOTH, out)
    stranger = tmp_path / "other.jsonl"
    stranger.write_text('{"id": "x"}\n[1, 2]\n')  # not results: named, one line, kept
    with pytest.raises(ValueError, match=r"other\.jsonl line 1: not a result line \(") as caught:
        await run_bench(engine, None, SessionConfig(), SETTINGS, BOTH, stranger)
    assert "\n" not in str(caught.value) and stranger.read_text().count("\n") == 2


async def test_interrupted_run_loses_nothing_and_resumes(tmp_path):
    out = tmp_path / "r.jsonl"
    engine = ScriptedEngine(answer_b, delay=0.02)
    task = asyncio.create_task(run_bench(engine, None, SessionConfig(), SETTINGS, BOTH, out))
    while not out.exists() or len(read_lines(out)) < 2:
        await asyncio.sleep(0.01)
    task.cancel()  # what Ctrl-C does to the running benchmark
    with pytest.raises(asyncio.CancelledError):
        await task
    kept = read_lines(out)
    assert 2 <= len(kept) < 6
    # A crash mid-write leaves a cut line: that question is run again.
    out.write_text(out.read_text() + '{"run": {"mode": "live')
    written = await run_bench(engine, None, SessionConfig(), SETTINGS, BOTH, out)
    assert written == 6 - len(kept)
    complete = read_lines(out)  # the cut line is gone: every line parses
    assert len(complete) == 6
    assert {(r["id"], r["mode"]) for r in complete} == {
        (q, m) for q in {r["id"] for r in complete} for m in ("livemind", "baseline")
    }


async def test_run_to_file_reports_the_results_and_closes_the_engines(tmp_path, capsys):
    out, engine = tmp_path / "r.jsonl", ScriptedEngine()
    bench = run_bench(engine, None, SessionConfig(), SETTINGS, BOTH, out)
    assert await run_to_file(bench, out, (engine, None)) == 6  # None: no answer engine
    assert engine.closed
    assert (
        capsys.readouterr().out
        == f"6 results written to {out}; see: voice-livemind analyze {out}\n"
    )


async def test_run_to_file_after_ctrl_c_says_how_to_resume(tmp_path, capsys):
    out, engine = tmp_path / "r.jsonl", ScriptedEngine()
    task = asyncio.create_task(run_to_file(asyncio.sleep(60, result=0), out, [engine]))
    await asyncio.sleep(0)
    task.cancel()  # what Ctrl-C does to the running benchmark
    with pytest.raises(asyncio.CancelledError):
        await task
    captured = capsys.readouterr()
    assert engine.closed and captured.out == ""
    assert f"interrupted: results so far are in {out}; run again to resume" in captured.err


async def test_keep_up_timing_lets_every_sentence_be_thought_about():
    """However slow the model, each complete sentence gets its inference before the next
    arrives: nothing is in flight, nothing aborted, when the input ends."""
    from voice_livemind.bench.text_replay import replay_keeping_up

    engine = ScriptedEngine(delay=0.05)  # slow beside the paper's clock at any typing speed
    bus = EventBus()
    events = bus.subscribe()
    session = LiveMindSession(engine, SessionConfig(min_segment_chars=0), bus=bus)
    await replay_keeping_up(session, TEXT, tail="Options: (A) hot (B) cold")
    seen = []
    while not events.empty():
        seen.append(events.get_nowait())
    assert not [e for e in seen if isinstance(e, InferenceAborted)]
    (ended,) = [e for e in seen if isinstance(e, InputEnded)]
    assert not ended.in_flight
    # Three sentences, the last complete once the options follow: two inferences before them.
    assert len(engine.inference_calls) == 2
