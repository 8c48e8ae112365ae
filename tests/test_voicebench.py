"""`serve` speaks voicebench's generic WebSocket wire (`/ws?wire=pcm`): the encoding, pure; then
real `voicebench` runs (its Python API, its `websocket` adapter, the wall clock) against a
server started here, with real Whisper (tiny.en) and real TTS; the LLM is scripted (the wire is
under test; `benchmarks/voicebench/` runs the real engine)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
from scripted_engine import ScriptedEngine, is_answer_prompt
from server_harness import running_server
from test_server_engine import server_url  # noqa: F401 (a module's serve, real vLLM)
from voicebench import audio as vb_audio
from voicebench.bench import run_benchmark
from voicebench.scenario import parse_scenario

from voice_livemind.asr.decoder import WhisperDecoder
from voice_livemind.asr.events import SpeechStarted, UtteranceEnded
from voice_livemind.asr.models import load_whisper
from voice_livemind.audio import SpeechSynthesizer
from voice_livemind.audio.events import SpeechInterrupted
from voice_livemind.audio.speech_samples import synthesize, with_silence, write_wav
from voice_livemind.events import AnswerDelta, AnswerDone, ErrorEvent
from voice_livemind.livemind.config import SessionConfig
from voice_livemind.server.connection import SharedModels
from voice_livemind.server.protocol import ProtocolError, Start, parse_message
from voice_livemind.server.wires import JsonWire, PcmWire, resample, select_wire

SPOKEN = (
    "A farmer plants seeds in the spring. The plants grow tall during the summer. "
    "When does the farmer harvest the crop?"
)
LONG_ANSWER = (
    "The answer is 42. The farmer harvests the crop in the autumn, when the plants are ripe and "
    "dry, and then the field rests until the next spring. The soil recovers over the winter."
)

# -- the encoding, pure ----------------------------------------------------------------------


def test_pcm_wire_sends_clear_transcripts_and_errors_only():
    wire = PcmWire()
    assert json.loads(wire.event(SpeechInterrupted(t=1.0, unplayed_s=2.0))) == {"type": "clear"}
    heard = UtteranceEnded(t=2.0, text=" How many sheep?", audio_t=1.5, start_t=0.2)
    assert json.loads(wire.event(heard)) == {
        "type": "transcript",
        "role": "user",
        "text": "How many sheep?",
        "final": True,
    }
    said = AnswerDone(t=3.0, call_id="a", text="The answer is (B).", finish_reason="stop")
    assert json.loads(wire.event(said))["role"] == "agent"
    assert json.loads(wire.event(ErrorEvent(t=3.0, message="engine down")))["type"] == "error"
    # Everything else is LiveMind's own business: voice clients do not read it.
    assert wire.event(SpeechStarted(t=0.0, audio_t=0.0)) is None
    assert wire.event(AnswerDelta(t=0.0, text="The")) is None
    # The JSON wire sends every event, as before.
    assert json.loads(JsonWire().event(SpeechStarted(t=0.0, audio_t=0.0)))["type"] == (
        "speech_started"
    )


def test_pcm_wire_audio_is_pcm16_at_16_khz_whatever_the_tts_rate():
    tone = vb_audio.tone(1000.0, 22_050, freq_hz=440.0, level_db=-6.0)
    data = PcmWire().audio(tone, 22_050)
    assert isinstance(data, bytes) and abs(len(data) - 2 * 16_000) <= 64  # 1 s of 16-bit mono
    decoded = vb_audio.from_pcm16(data)  # as voicebench's adapter reads it
    assert abs(vb_audio.rms_dbfs(decoded) - vb_audio.rms_dbfs(tone)) < 0.5
    spectrum = np.abs(np.fft.rfft(decoded[2000:14000]))
    peak_hz = np.argmax(spectrum) * 16_000 / 12_000
    assert abs(peak_hz - 440.0) < 5.0  # same pitch: resampled, not just relabelled
    assert len(resample(tone[:0], 22_050, 16_000)) == 0


def test_wire_is_chosen_by_name_or_refused():
    assert select_wire(None).name == "json" and select_wire("pcm").name == "pcm"
    with pytest.raises(ProtocolError, match="'opus' is not one of json, pcm"):
        select_wire("opus")
    assert parse_message('{"type": "start", "wire": "pcm"}', 100) == Start(wire="pcm")
    assert parse_message('{"type": "start"}', 100).wire is None
    with pytest.raises(ProtocolError, match='"wire" must be a string'):
        parse_message('{"type": "start", "wire": 1}', 100)


# -- voicebench against a started server ---------------------------------------------------


@pytest.fixture(scope="module")
def models():
    return SharedModels(
        engine=ScriptedEngine(),
        decoder=WhisperDecoder(load_whisper()),
        session_config=SessionConfig(),
        synthesizer=SpeechSynthesizer(),
    )


def long_answers() -> ScriptedEngine:
    return ScriptedEngine(lambda messages, settings: (
        LONG_ANSWER if is_answer_prompt(messages) else "action inference. noted"))  # fmt: skip


def scenario(question_wav: str, stop_wav: str) -> dict:
    """A spoken question, then the user talks over the answer 0.8 s after it starts."""
    return {
        "name": "pcm-wire",
        "sample_rate": 16000,
        "frame_ms": 20,
        "tail_ms": 1500,
        "max_duration_ms": 60000,
        "turns": [
            {
                "id": "question",
                "audio": {"file": question_wav},
                "text": SPOKEN,
                "start": {"after": "session_start", "delay_ms": 300},
                "response_timeout_ms": 15000,
            },
            {
                "id": "barge-in",
                "audio": {"file": stop_wav},
                "start": {"after": "agent_speech_start", "delay_ms": 800, "timeout_ms": 20000},
                "expect": "stop",
            },
        ],
    }


async def test_a_voicebench_run_gets_an_answer_a_transcript_and_a_barge_in(models, tmp_path):
    write_wav(tmp_path / "question.wav", with_silence(synthesize(SPOKEN), after=0.2))
    write_wav(tmp_path / "stop.wav", synthesize("Wait, stop talking please."))
    plan = parse_scenario(scenario("question.wav", "stop.wav"), base_dir=tmp_path)
    async with running_server(dataclasses.replace(models, engine=long_answers())) as server:
        result = await run_benchmark(
            plan, adapter="websocket", options={"url": server.ws_url + "?wire=pcm"}
        )
    question, barge_in = result.sessions[0].turns
    assert question.responded and question.response_latency_ms is not None, question.notes
    assert question.transcript is not None and question.wer < 0.3, question.transcript
    assert barge_in.stopped, barge_in.notes  # the agent's audio ended: a `clear` came
    assert result.records[0].clears and result.summary["missed_responses"] == 0


async def test_a_start_message_may_choose_the_wire_and_its_rate_is_checked(models):
    engine = long_answers()
    async with running_server(dataclasses.replace(models, engine=engine)) as server:
        ws = await server.http.ws_connect(server.ws_url)
        await ws.send_json({"type": "start", "wire": "pcm", "sample_rate": 16000})
        ready = await ws.receive_json(timeout=10)
        assert ready["type"] == "ready" and ready["wire"] == "pcm"
        await ws.send_json({"type": "text", "text": "What is two plus two?", "final": True})
        kinds = []
        while "binary" not in kinds or "transcript" not in kinds:
            message = await ws.receive(timeout=30)
            if message.type.name == "BINARY":
                kinds.append("binary")
                assert len(message.data) % 2 == 0
            else:
                data = json.loads(message.data)
                kinds.append(data["type"])
                assert data["type"] == "transcript" and data["role"] == "agent"
        await ws.close()
        # On the pcm wire a refused start ends the connection: audio must not start a session
        # at a rate the client did not mean.
        ws = await server.http.ws_connect(server.ws_url + "?wire=pcm")
        await ws.send_json({"type": "start", "sample_rate": 24000})
        error = await ws.receive_json(timeout=10)
        assert error["code"] == "wrong_rate"
        closing = await ws.receive(timeout=10)
        assert closing.type.name in ("CLOSE", "CLOSED", "CLOSING")
        await asyncio.sleep(0)


# -- the voicebench CLI against `voice-livemind serve` (real vLLM) -----------------------------


@pytest.mark.engine
def test_voicebench_cli_against_serve_with_the_real_engine(server_url, tmp_path):  # noqa: F811
    write_wav(tmp_path / "question.wav", with_silence(synthesize(SPOKEN), after=0.2))
    plan = scenario("question.wav", "question.wav")
    plan["turns"] = plan["turns"][:1]  # one question: the real model answers it
    # A loaded 2-core machine: wait up to 30 s for the answer (the session ends `tail_ms` after
    # the last turn, whatever the response timeout).
    plan["turns"][0]["response_timeout_ms"] = plan["tail_ms"] = 30000
    (tmp_path / "scenario.yaml").write_text(json.dumps(plan))  # JSON is YAML
    url = server_url.replace("http://", "ws://") + "/ws?wire=pcm"
    done = subprocess.run(
        [sys.executable, "-m", "voicebench", "run", str(tmp_path / "scenario.yaml"),
         "-a", "websocket", "--url", url, "--out", str(tmp_path / "out"), "--format", "json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    (turn,) = report["sessions"][0]["turns"]
    assert turn["responded"] and turn["response_latency_ms"] is not None, turn["notes"]
    assert turn["transcript"] and turn["wer"] < 0.5, turn["transcript"]  # tiny.en on espeak
