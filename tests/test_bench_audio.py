"""The spoken benchmark end to end: one MMLU question read aloud by espeak-ng, replayed in real
time through Silero VAD, tiny.en, real vLLM (LiveMind and baseline) and pyttsx3 to WAVs; then
resume and analyze. Timing is not asserted (this machine may be busy), only what was measured."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from voice_livemind.asr.recognizer import RecognizerConfig, StreamingRecognizer, create_recognizer
from voice_livemind.asr.vad import VadConfig
from voice_livemind.audio import SpeechSynthesizer
from voice_livemind.audio.speech_cache import SpeechCache
from voice_livemind.bench.analyze.report import run_analyze
from voice_livemind.bench.datasets import load_questions, sample_questions
from voice_livemind.bench.spoken import from_questions
from voice_livemind.bench.spoken_record import STAGES
from voice_livemind.bench.spoken_replay import (
    QUESTION_RATE_WPM,
    QUESTION_VOICES,
    SpokenBench,
    SpokenBenchSettings,
    run_spoken_bench,
)
from voice_livemind.livemind.config import Mode, SessionConfig
from voice_livemind.livemind.samples import MULTIPLE_CHOICE_INSTRUCTION
from voice_livemind.turn.acoustic import SmartTurn
from voice_livemind.turn.fusion import EndpointingConfig

SETTINGS = SpokenBenchSettings(
    dataset="mmlu", n=1, seed=42, voice="piper:en_US-joe-medium", rate_wpm=QUESTION_RATE_WPM,
    asr_model="tiny.en", speculate="livemind", format="u-spi", granularity="sent",
    min_segment_chars=10, end_policy="abort", max_inference_tokens=48, max_answer_tokens=48,
    model="SmolLM2-135M-Instruct", answer_model="SmolLM2-135M-Instruct",
)  # fmt: skip


@pytest.mark.engine
@pytest.mark.parametrize("endpointing", ["silence", "fused"])
async def test_one_spoken_question_in_both_modes_resumes_and_analyzes(
    tmp_path, model_dir, endpointing
):
    from voice_livemind.llm.vllm_engine import VllmEngine

    items = from_questions(sample_questions(load_questions("mmlu"), 1))
    speech = SpeechCache(
        SpeechSynthesizer(QUESTION_RATE_WPM, QUESTION_VOICES["piper"], backend="piper"),
        root=tmp_path / "speech",
    )
    engine = await VllmEngine.start(model_dir)
    config = SessionConfig(
        answer_instruction=MULTIPLE_CHOICE_INSTRUCTION,
        answer=replace(SessionConfig().answer, max_tokens=SETTINGS.max_answer_tokens),
    )
    settings, recognizer, fused = SETTINGS, create_recognizer(), None
    if endpointing == "fused":  # the VAD's silence is the fallback; each pause gets its own
        fused = EndpointingConfig()
        settings = replace(SETTINGS, endpointing="fused")
        vad = VadConfig(min_silence_s=fused.full_silence_s)
        recognizer = StreamingRecognizer(recognizer.decoder, RecognizerConfig(vad=vad))
    bench = SpokenBench(
        engine, None, config, settings, recognizer, SpeechSynthesizer(), speech,
        tmp_path / "answers", endpointing=fused, smart_turn=SmartTurn() if fused else None,
    )  # fmt: skip
    out = tmp_path / "spoken.jsonl"
    modes = [Mode.LIVEMIND, Mode.BASELINE]
    try:
        assert await run_spoken_bench(bench, items, modes, out) == 2
        assert await run_spoken_bench(bench, items, modes, out) == 0  # resumed: nothing to do
    finally:
        await engine.close()
    assert (speech.misses, speech.hits) == (1, 1)  # spoken once, replayed twice
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["mode"] for r in records] == ["livemind", "baseline"]
    for r in records:
        assert r["run"]["endpointing"] == endpointing
        # Per-pause endpointing may end a turn at a pause between the options (a cut-off the
        # benchmark reports); the silence-only one waits for the end.
        assert r["error"] is None and (r["utterances"] == 1 or endpointing == "fused")
        assert r["reference_text"] == items[0].text and r["transcript"]
        assert r["wer"] < 0.8, r["transcript"]  # tiny.en on espeak-ng: ~45% on MMLU wording
        assert r["answer_text"] and r["run"]["options"] == "spoken"
        first_audio = r["speech_end_to_first_audio_s"]
        assert first_audio > r["speech_end_to_utterance_end_s"] > 0
        assert sum(r["stages_s"][s] for s in STAGES) == pytest.approx(first_audio, abs=2e-3)
        assert r["speech_end_to_answer_s"] >= r["speech_end_to_first_token_s"] > 0
        assert r["tokens_after_speech_end"] > 0
        assert (tmp_path / "answers" / f"{r['id']}_{r['mode']}.wav").stat().st_size > 10_000
    livemind, baseline = records
    assert livemind["speculations"] >= 1 and baseline["speculations"] == 0
    assert baseline["inferences_before_speech_end"] == 0 and baseline["inferences"] == 0
    assert run_analyze([str(out)], None, False, str(tmp_path / "plots")) == 0
    for name in ("spoken_stages.png", "spoken_latency_cdf.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 10_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--recordings", "{tmp}"], "holds no answers.jsonl"),
        (["--audio", "--concurrency", "2"], "--concurrency must be 1"),
    ],
)
def test_bad_spoken_bench_input_is_a_one_line_error(tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    done = subprocess.run(
        [sys.executable, "-m", "voice_livemind.cli", "bench", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith("voice-livemind: error:") and message in lines[0]
