"""`voice-livemind text` end to end, as a user runs it (a subprocess, the real engine)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import pytest

from voice_livemind.cli.main import build_parser
from voice_livemind.cli.options import session_config
from voice_livemind.livemind.config import AnswerStyle
from voice_livemind.livemind.prompts import FINAL_INSTRUCTION, WEIGH_INSTRUCTION
from voice_livemind.livemind.samples import (
    MULTIPLE_CHOICE_ANSWER_PREFIX,
    MULTIPLE_CHOICE_INSTRUCTION,
    SAMPLE_QUESTION,
)


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voice_livemind.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


@pytest.mark.engine
def test_text_json_on_the_sample_question(tmp_path):
    log = tmp_path / "events.jsonl"
    # `wait`: an inference still running when typing ends is recorded, however slow the machine.
    done = run_cli("text", "--speed", "3000", "--end-policy", "wait", "--json", "--log", str(log))
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["question"] == SAMPLE_QUESTION
    assert result["answer_text"].strip()
    assert isinstance(result["inferences"], list) and result["inferences"]
    assert result["latency_s"] > 0
    events = [json.loads(line) for line in log.read_text().splitlines()]
    kinds = [e["type"] for e in events]
    for kind in ("segment", "inference_started", "input_ended", "answer_first_token"):
        assert kind in kinds
    assert kinds[-1] == "answer_done"
    assert all(a["t"] <= b["t"] for a, b in itertools.pairwise(events))


@pytest.mark.engine
def test_text_baseline_makes_no_inferences():
    done = run_cli("text", "What is 2 + 3?", "--speed", "6000", "--mode", "baseline", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["inferences"] == [] and result["answer_text"].strip()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "/no/such/model"], "model '/no/such/model' not found"),
        (["--model", "nobody/no-such-model"], "not in the local HF cache"),
        (["--llm-url", "http://127.0.0.1:9/v1"], "cannot reach the LLM server"),
        (["--speed", "0"], "--speed must be positive"),
    ],
)
def test_bad_setup_is_a_one_line_error(args, message):
    done = run_cli("text", "Hi.", *args, timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("voice-livemind: error: ")
    assert message in lines[0]


@pytest.mark.engine
def test_bench_then_analyze_on_the_shipped_sample(tmp_path):
    out = tmp_path / "bench.jsonl"
    done = run_cli("bench", "-n", "2", "--max-answer-tokens", "48", "--output", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["mode"] for r in records) == ["baseline", "baseline", "livemind", "livemind"]
    assert all(r["error"] is None and r["latency_s"] > 0 for r in records)
    # The reply, and the letter when the reply states none.
    from voice_livemind.livemind.session import LETTER_SETTINGS

    assert all(r["tokens_after_end"] <= 48 + LETTER_SETTINGS.max_tokens for r in records)
    # Running the same command again resumes: nothing left to do.
    again = run_cli("bench", "-n", "2", "--max-answer-tokens", "48", "--output", str(out))
    assert again.returncode == 0 and "0 results written" in again.stdout
    summary = run_cli("analyze", str(out), "--json", "--plot", str(tmp_path / "plots"))
    assert summary.returncode == 0, summary.stderr[-2000:]
    runs = json.loads(summary.stdout)["runs"]
    assert {r["mode"] for r in runs} == {"livemind", "baseline"}
    assert all(r["n"] == 2 for r in runs)
    assert len(list((tmp_path / "plots").glob("*.png"))) == 4


@pytest.mark.parametrize(
    ("style", "options", "prefix"),
    [
        # A text answer's reply is read: free by default (after "The answer is (" a small
        # model's letter leans one way; benchmarks/RESULTS.md, "Accuracy").
        (AnswerStyle.TEXT, [], ""),
        (AnswerStyle.TEXT, ["--answer-prefix", "The answer is ("], "The answer is ("),
        # A spoken answer says only the option: straight to the calibrated letter.
        (AnswerStyle.SPOKEN, [], MULTIPLE_CHOICE_ANSWER_PREFIX),
        (AnswerStyle.SPOKEN, ["--answer-prefix", ""], ""),
        (AnswerStyle.SPOKEN, ["--weigh-options"], ""),
    ],
)
@pytest.mark.parametrize("command", [["text", "Hi."], ["bench"], ["demo"]])
def test_the_answer_prefix_follows_the_answer_style_unless_given(command, style, options, prefix):
    args = build_parser().parse_args([*command, *options])
    config = session_config(args, MULTIPLE_CHOICE_INSTRUCTION, answer_style=style)
    assert config.answer_prefix == prefix
    assert config.answer_instruction == MULTIPLE_CHOICE_INSTRUCTION


@pytest.mark.parametrize("command", [["text", "Hi."], ["demo"], ["serve"], ["listen"]])
def test_the_assistant_commands_answer_in_the_spoken_style(command):
    args = build_parser().parse_args(command)
    config = session_config(args)
    assert config.answer_style is AnswerStyle.SPOKEN
    assert config.final_instruction == FINAL_INSTRUCTION
    weighing = session_config(build_parser().parse_args([*command, "--weigh-options"]))
    assert weighing.final_instruction == WEIGH_INSTRUCTION


@pytest.mark.parametrize(
    ("command", "options", "speculates"),
    [
        (["serve"], [], True),
        (["demo"], [], True),
        (["replay", "q.wav"], ["--mode", "baseline"], False),
        (["listen"], ["--speculate", "off"], False),
        (["bench", "--audio"], ["--mode", "baseline", "--speculate", "all"], True),
    ],
)
def test_every_spoken_command_prepares_answers_in_pauses_in_livemind_mode(
    command, options, speculates
):
    config = session_config(build_parser().parse_args([*command, *options]))
    assert config.speculates is speculates


@pytest.mark.parametrize(
    "command, sink, barge_in",
    [
        (["listen"], "speakers", False),  # the microphone would hear the answer
        (["listen", "--barge-in"], "speakers", True),  # headphones, or echo cancellation
        (["listen"], "wav", True),
        (["listen"], None, True),  # --no-speech
        (["replay", "q.wav"], "speakers", True),  # a file hears nothing
        (["demo"], "speakers", True),
    ],
)
def test_only_the_microphone_beside_loudspeakers_is_half_duplex(command, sink, barge_in):
    from types import SimpleNamespace

    from voice_livemind.audio import SpeakerSink, WavSink
    from voice_livemind.cli.voice import _barge_in

    sinks = {"speakers": object.__new__(SpeakerSink), "wav": object.__new__(WavSink)}
    speaker = SimpleNamespace(sink=sinks[sink]) if sink else None
    assert _barge_in(build_parser().parse_args(command), speaker) is barge_in


def test_asr_hardware_options_reach_whisper():
    from voice_livemind.cli.options import whisper_options

    for command in (["serve"], ["replay", "q.wav"], ["bench", "--audio"]):
        args = build_parser().parse_args(
            [*command, "--asr-device", "cpu", "--asr-compute-type", "int8", "--asr-threads", "1"]
        )
        assert whisper_options(args) == {"device": "cpu", "compute_type": "int8", "cpu_threads": 1}
    defaults = whisper_options(build_parser().parse_args(["serve"]))
    assert defaults == {"device": "auto", "compute_type": "default", "cpu_threads": 2}
    with pytest.raises(ValueError, match="--asr-threads"):
        whisper_options(build_parser().parse_args(["serve", "--asr-threads", "0"]))


@pytest.mark.engine
def test_the_demo_shows_inferences_while_the_question_is_spoken_and_starts_quietly(tmp_path):
    done = run_cli("demo", "--no-speech", "--log", str(tmp_path / "log.jsonl"), timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("livemind: ready in ") and "warm-up" in lines[0]
    inference_lines = [line for line in lines if "] inference: " in line]
    assert inference_lines, done.stdout
    events = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    speech_end = next(e["audio_t"] for e in events if e["type"] == "speech_ended")
    offset = next(e["t"] - e["audio_t"] for e in events if e["type"] == "audio_started")
    first_inference = next(e["t"] for e in events if e["type"] == "inference_done")
    assert first_inference < speech_end + offset  # while the question was still spoken
    assert any(line.startswith("Answer: ") for line in lines)
    noise = ("Triton", "FutureWarning", "NUMA", "Loading safetensors", "INFO")
    assert not [word for word in noise if word in done.stdout + done.stderr]


def test_fused_endpointing_keeps_the_full_silence_as_the_vads_fallback():
    from voice_livemind.cli.voice import _endpointing

    assert _endpointing(build_parser().parse_args(["replay", "q.wav"])) == (None, None, None)
    args = build_parser().parse_args(["demo", "--endpointing", "fused"])
    endpointing, smart_turn, asr_config = _endpointing(args)
    assert asr_config.vad.min_silence_s == endpointing.full_silence_s
    assert smart_turn is not None  # pipecat-ai's data files are installed for the tests


def test_both_benchmarks_record_the_settings_the_session_got():
    """A results file refuses to resume under other settings only if it records them: the
    text and spoken runs take them from one builder, off the session's own config."""
    from dataclasses import asdict

    from voice_livemind.bench.run_settings import session_settings
    from voice_livemind.bench.spoken_replay import SpokenBenchSettings
    from voice_livemind.bench.text_replay import BenchSettings

    args = build_parser().parse_args(
        ["bench", "--answer-prefix", "", "--free-actions", "--repetition-penalty", "1.3"]
    )
    config = session_config(args, MULTIPLE_CHOICE_INSTRUCTION)
    shared = session_settings(config, "big", "small", 4096)
    text = BenchSettings(
        dataset="mmlu", n=1, seed=42, speed_cpm=240.0, timing="simulated", options="at-end",
        **shared,
    )  # fmt: skip
    spoken = SpokenBenchSettings(
        dataset="mmlu", n=1, seed=42, voice=None, rate_wpm=None, asr_model="tiny.en",
        speculate="livemind", **shared,
    )  # fmt: skip
    for settings in (asdict(text), asdict(spoken)):
        assert {k: settings[k] for k in shared} == shared
    assert shared["answer_prefix"] == ""
    assert shared["free_actions"] is True
    assert shared["repetition_penalty"] == 1.3
    assert shared["answer_model"] == "small" and shared["max_model_len"] == 4096
