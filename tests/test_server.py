"""The server's protocol, sessions and bad input, over real WebSockets on 127.0.0.1.

The LLM is scripted here (the server's wiring is under test); Whisper (tiny.en on espeak speech)
and TTS (pyttsx3) are real. Real-engine tests are in test_server_engine.py.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json

import pytest
from scripted_engine import ScriptedEngine, default_reply, is_answer_prompt, wait_until
from server_harness import running_server
from speech import synthesize, with_silence

from voice_livemind.asr.decoder import WhisperDecoder
from voice_livemind.asr.models import load_whisper
from voice_livemind.audio import SpeechSynthesizer
from voice_livemind.livemind.config import Mode, SessionConfig
from voice_livemind.server.client import ServerClosed
from voice_livemind.server.connection import Limits, SharedModels
from voice_livemind.server.protocol import (
    EndInput,
    ProtocolError,
    SetMode,
    Start,
    TextInput,
    parse_message,
    pcm16_samples,
)

TYPED = "The farmer has seventeen sheep in a field. He buys five more at the market. "
QUESTION = "How many sheep does he have now?"
SPOKEN = (
    "A farmer plants seeds in the spring. The plants grow tall during the summer. "
    "When does the farmer harvest the crop?"
)


# -- the protocol, pure ----------------------------------------------------------------------


def test_parse_valid_messages():
    assert parse_message('{"type": "start"}', 100) == Start()
    assert parse_message('{"type":"start","mode":"baseline","speech":false}', 100) == Start(
        Mode.BASELINE, 16000, False
    )
    assert parse_message('{"type":"text","text":"Hi.","final":true}', 100) == TextInput("Hi.", True)
    edit = '{"type":"text","text":"Hi there.","revise":true}'
    assert parse_message(edit, 100) == TextInput("Hi there.", revise=True)
    assert parse_message('{"type":"end"}', 100) == EndInput()
    assert parse_message('{"type":"mode","mode":"livemind"}', 100) == SetMode(Mode.LIVEMIND)


@pytest.mark.parametrize(
    ("raw", "code", "words"),
    [
        ("{not json", "bad_json", "not JSON"),
        ("[1, 2]", "bad_message", '"type"'),
        ('{"type": "dance"}', "unknown_type", "'dance'"),
        ('{"type": "start", "sample_rate": 44100}', "wrong_rate", "44100"),
        ('{"type": "start", "sample_rate": true}', "bad_message", "sample_rate"),
        ('{"type": "start", "mode": "fast"}', "bad_message", "'fast'"),
        ('{"type": "text"}', "bad_message", '"text" must be a string'),
        ('{"type": "text", "text": "' + "x" * 101 + '"}', "too_large", "101 characters"),
    ],
)
def test_bad_messages_are_one_line_errors(raw, code, words):
    with pytest.raises(ProtocolError) as caught:
        parse_message(raw, 100)
    assert caught.value.code == code and words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_pcm16_frames():
    samples = pcm16_samples((16384).to_bytes(2, "little", signed=True) * 4, 100)
    assert samples.tolist() == [0.5] * 4
    with pytest.raises(ProtocolError, match="even"):
        pcm16_samples(b"\x00\x01\x02", 100)
    with pytest.raises(ProtocolError, match="at most 100 bytes"):
        pcm16_samples(b"\x00" * 102, 100)


# -- over WebSockets -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def models():
    """Whisper and TTS, loaded once as the server does; each test brings its own engine."""
    return SharedModels(
        engine=ScriptedEngine(),
        decoder=WhisperDecoder(load_whisper()),
        session_config=SessionConfig(),
        synthesizer=SpeechSynthesizer(),
    )


def shared_with(models: SharedModels, engine: ScriptedEngine, **changes) -> SharedModels:
    return dataclasses.replace(models, engine=engine, **changes)


# These tests send recorded speech faster than real time; the server admits that much ahead.
FAST_AUDIO = Limits(audio_burst_s=60.0)


def types(messages: list[dict]) -> list[str]:
    return [m["type"] for m in messages]


async def test_typed_turn_thinks_while_typing_then_answers_and_speaks(models):
    engine = ScriptedEngine()
    async with running_server(shared_with(models, engine)) as server:
        client = await server.connect()
        assert client.ready["mode"] == "livemind" and client.ready["speech"] is True
        for word in TYPED.split():  # word by word, as typed
            await client.send_text(word + " ")
        thought = await client.until("inference_done", 10)  # before the input ended
        assert "input_ended" not in types(thought) and "segment" in types(thought)
        await client.send_text(QUESTION, final=True)
        turn = await client.until("turn_summary", 30)
        kinds = types(turn)
        assert kinds.index("input_ended") < kinds.index("answer_first_token")
        assert "tts_first_audio" in kinds and "tts_audio" in kinds
        audio = next(m for m in turn if m["type"] == "tts_audio")
        assert audio["sample_rate"] > 8000 and len(base64.b64decode(audio["pcm16"])) > 8000
        answer = "".join(m["text"] for m in turn if m["type"] == "answer_delta")
        figures = turn[-1]["figures"]
        assert answer == figures["answer_text"] == "The answer is 42."
        assert figures["transcript"] == TYPED + QUESTION
        assert figures["inferences"] >= 1 and figures["input_end_to_first_audio_s"] > 0
        await client.close()


async def test_multi_turn_keeps_history_and_mode_switches_between_turns(models):
    engine = ScriptedEngine()
    async with running_server(shared_with(models, engine)) as server:
        client = await server.connect(speech=False)
        await client.send_text("What is two plus two?", final=True)
        first = await client.until("turn_summary", 30)
        assert "tts_audio" not in types(first)  # speech off for this client
        await client.send({"type": "mode", "mode": "baseline"})
        assert (await client.until("mode", 5))[-1]["mode"] == "baseline"
        await client.send_text("And three more? Or four?")
        await client.send({"type": "text", "text": "And three more?", "revise": True})  # an edit
        await client.end()
        second = await client.until("turn_summary", 30)
        assert second[-1]["figures"]["transcript"] == "And three more?"
        started = next(m for m in second if m["type"] == "answer_started")
        assert started["mode"] == "baseline" and started["turn"] == 1
        last = engine.answer_calls[-1].messages
        assert {"role": "user", "content": "What is two plus two?"} in last
        assert {"role": "assistant", "content": "The answer is 42."} in last


async def test_bad_input_gets_errors_and_the_session_goes_on(models):
    engine = ScriptedEngine()
    limits = Limits(max_frame_bytes=3200)  # 0.1 s of audio
    async with running_server(shared_with(models, engine), limits) as server:
        ws = await server.http.ws_connect(server.ws_url)
        await ws.send_bytes(b"\x00\x00" * 10)  # audio before start
        await ws.send_str('{"type": "text", "text": "hi"}')  # text before start
        await ws.send_str('{"type": "start", "sample_rate": 8000}')
        errors = [json.loads((await ws.receive(timeout=5)).data) for _ in range(3)]
        assert [e["code"] for e in errors] == ["not_started", "not_started", "wrong_rate"]
        await ws.send_str('{"type": "start", "speech": false}')
        assert json.loads((await ws.receive(timeout=5)).data)["type"] == "ready"
        await ws.send_str("{oops")
        await ws.send_str('{"type": "shout"}')
        await ws.send_bytes(b"\x00" * 3201)  # odd and oversized
        await ws.send_bytes(b"\x00" * 4000)  # oversized
        await ws.send_bytes(b"\x00" * 3)  # odd
        await ws.send_str('{"type": "end"}')  # nothing typed yet
        await ws.send_str('{"type": "start"}')  # twice
        got = [json.loads((await ws.receive(timeout=5)).data) for _ in range(7)]
        assert [m.get("code") for m in got] == [
            "bad_json",
            "unknown_type",
            "too_large",
            "too_large",
            "bad_audio",
            "nothing_to_answer",
            "bad_message",
        ]
        assert all(m["type"] == "error" and "\n" not in m["message"] for m in got)
        await ws.send_str('{"type": "text", "text": "Still there?", "final": true}')
        while (message := json.loads((await ws.receive(timeout=30)).data))["type"] != "answer_done":
            assert message["type"] != "error", message
        assert message["text"] == "The answer is 42."
        await ws.close()


async def test_a_huge_frame_closes_only_that_connection(models):
    limits = Limits(max_frame_bytes=3200)  # aiohttp's own limit: 4x, 12,800 bytes
    async with running_server(shared_with(models, ScriptedEngine()), limits) as server:
        other = await server.connect(speech=False)
        huge = await server.connect(speech=False)
        await huge.ws.send_bytes(b"\x00" * 20_000)
        with pytest.raises(ServerClosed):
            await huge.until("error", 5)
        assert huge.ws.close_code == 1009  # message too big
        await wait_until(lambda: server.sessions == 1, timeout=5)
        await other.send_text("Fine?", final=True)
        assert (await other.until("answer_done", 30))[-1]["text"] == "The answer is 42."


async def test_session_limit_refuses_clearly_and_frees_on_close(models):
    async with running_server(shared_with(models, ScriptedEngine()), Limits(2)) as server:
        first, second = await server.connect(speech=False), await server.connect(speech=False)
        with pytest.raises(ServerClosed, match="server_full"):
            await server.connect(speech=False)
        await first.close()
        await wait_until(lambda: server.sessions == 1, timeout=5)
        third = await server.connect(speech=False)
        assert third.ready["type"] == "ready"
        await second.send_text("Anyone?", final=True)
        assert (await second.until("answer_done", 30))[-1]["text"] == "The answer is 42."


async def test_idle_session_is_closed_and_others_are_not(models):
    engine = ScriptedEngine()
    limits = Limits(idle_timeout_s=1.0)
    async with running_server(shared_with(models, engine), limits) as server:
        idle, busy = await server.connect(speech=False), await server.connect(speech=False)
        for _ in range(4):  # keep `busy` talking past the idle limit
            await asyncio.sleep(0.4)
            await busy.send_text("Still typing. ")
        error = (await idle.until("error", 5))[-1]
        assert error["code"] == "idle_timeout" and "1 s" in error["message"]
        with pytest.raises(ServerClosed):
            await idle.receive(5)
        await busy.end()
        assert (await busy.until("answer_done", 30))[-1]["text"] == "The answer is 42."


class BrokenDecoder:
    def decode(self, audio, prompt="", beam_size=None):
        raise RuntimeError("the model\nexploded")


@pytest.fixture(scope="module")
def spoken_question():
    return with_silence(synthesize(SPOKEN), before=0.3, after=1.5)


async def test_client_vanishing_mid_utterance_harms_no_one(models, spoken_question):
    engine = ScriptedEngine()
    async with running_server(shared_with(models, engine), FAST_AUDIO) as server:
        other = await server.connect(speech=False)
        leaver = await server.connect()
        await leaver.send_audio(spoken_question[: len(spoken_question) // 2])
        await leaver.until("words_committed", 30)  # mid-utterance
        leaver.ws._response.connection.transport.abort()  # gone: no close handshake
        await wait_until(lambda: server.sessions == 1, timeout=10)
        await other.send_text("Are you there?", final=True)
        assert (await other.until("answer_done", 30))[-1]["text"] == "The answer is 42."


async def test_spoken_turns_with_barge_in(models, spoken_question):
    """Speech in, answer spoken; talking over the answer stops it, speech and generation, and
    the next turn sees what was generated of it in its history."""
    long_answer = " ".join(f"Sentence number {i} of a long answer." for i in range(12))
    engine = ScriptedEngine(
        lambda messages, settings: (
            long_answer if is_answer_prompt(messages) else default_reply(messages, settings)
        ),
        # 84 words 0.1 s apart: still generating when the user talks over its first sentences
        delay=lambda messages, settings: 0.1 if is_answer_prompt(messages) else 0.0,
    )
    async with running_server(shared_with(models, engine), FAST_AUDIO) as server:
        client = await server.connect()
        await client.send_audio(spoken_question)
        first = await client.until("tts_first_audio", 60)
        kinds = types(first)
        assert kinds.index("speech_ended") < kinds.index("utterance_ended")
        assert kinds.index("utterance_ended") < kinds.index("input_ended")
        transcript = next(m for m in first if m["type"] == "input_ended")["text"]
        assert "farmer" in transcript.lower()
        # 12 sentences take far longer to hear than to send: talk over them.
        await client.send_audio(spoken_question)
        interrupted = (await client.until("speech_interrupted", 60))[-1]
        assert interrupted["unplayed_s"] > 0 and interrupted["turn"] == 0
        while (await client.until("turn_summary", 90))[-1]["turn"] != 1:
            pass
        summaries = [m for m in client.received if m["type"] == "turn_summary"]
        assert [m["turn"] for m in summaries] == [0, 1]
        cut = summaries[0]["figures"]["answer_text"]
        assert cut and long_answer.startswith(cut) and cut != long_answer
        done = next(m for m in client.received if m["type"] == "answer_done")
        assert done["turn"] == 0 and done["finish_reason"] == "interrupted"
        # Audio came faster than real time: latencies still count from when it arrived.
        assert all(0 < m["figures"]["end_of_speech_to_first_audio_s"] < 60 for m in summaries)
        history = engine.answer_calls[-1].messages
        assert {"role": "assistant", "content": cut} in history


async def test_a_failing_recogniser_is_reported_and_typing_still_works(models, spoken_question):
    engine = ScriptedEngine()
    broken = shared_with(models, engine, decoder=BrokenDecoder())
    async with running_server(broken, FAST_AUDIO) as server:
        client = await server.connect(speech=False)
        await client.send_audio(spoken_question)
        error = (await client.until("error", 30))[-1]
        assert error["code"] == "asr_failed" and "recognition failed" in error["message"]
        assert "exploded" not in error["message"]  # internal exception text stays in the log
        await client.send_audio(spoken_question[:1600])  # audio after that: told again
        assert (await client.until("error", 30))[-1]["code"] == "asr_failed"
        await client.send_text("Typed instead.", final=True)
        assert (await client.until("answer_done", 30))[-1]["text"] == "The answer is 42."
