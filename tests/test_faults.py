"""Hostile input and careless operation (issue 18): each test reproduces one way the server or
the benchmark went wrong, over real sockets where a socket is involved, and fails on the code
before the fix. The LLM is scripted here; the real-engine faults (SIGTERM, a killed engine) are
in test_faults_engine.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import time
from dataclasses import replace

import aiohttp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scripted_engine import ScriptedEngine, default_reply, is_answer_prompt, wait_until
from server_harness import running_server
from test_analyze import make_record
from test_bench import SETTINGS, answer_b

from voice_livemind.asr.decoder import WhisperDecoder
from voice_livemind.asr.models import load_whisper
from voice_livemind.audio.speech_samples import synthesize, with_silence
from voice_livemind.bench.analyze.runs import load_runs
from voice_livemind.bench.text_replay import run_bench
from voice_livemind.cli.main import main as cli_main
from voice_livemind.livemind import segmenter
from voice_livemind.livemind.config import Mode, SessionConfig
from voice_livemind.livemind.segmenter import StreamingSegmenter, stable_segments
from voice_livemind.llm.base import EngineError
from voice_livemind.server.access import AccessPolicy
from voice_livemind.server.app import CONNECTIONS
from voice_livemind.server.client import LiveMindClient, ServerClosed
from voice_livemind.server.connection import AudioAllowance, Connection, Limits, SharedModels
from voice_livemind.server.protocol import ProtocolError, parse_message, pcm16_samples

BOTH = [Mode.LIVEMIND, Mode.BASELINE]

# -- segmentation: linear on any input -------------------------------------------------------


@pytest.mark.timeout(60)  # quadratic: 300,000 characters took hours; linear: milliseconds
@pytest.mark.parametrize("granularity", ["sent", "clause"])
def test_a_long_run_without_spaces_segments_in_linear_time(granularity):
    for text in ("a" * 300_000 + " ", "a" * 300_000 + " b", ("x" * 50_000 + " ") * 6):
        assert "".join(stable_segments(text, granularity, final=True)) == text
        assert text.startswith("".join(stable_segments(text, granularity)))


@pytest.mark.timeout(60)
def test_a_long_turn_is_not_segmented_again_from_its_start_at_every_message(monkeypatch):
    """300 messages of two sentences each: the characters segmented per message stay bounded
    (segmenting the whole turn at every message reads it ~150 times over)."""
    read = 0

    def counting(text: str, *args: object, **kwargs: object) -> list[str]:
        nonlocal read
        read += len(text)
        return stable_segments(text, *args, **kwargs)

    monkeypatch.setattr(segmenter, "stable_segments", counting)
    streaming = StreamingSegmenter("sent", 10)
    text = ""
    for i in range(300):
        text += f"Sentence number {i} is here. And another one follows it. "
        streaming.update(text)
    assert len(streaming.segments) >= 590
    assert read < 3 * len(text)


# -- the protocol parser, fuzzed --------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
MESSAGES = st.fixed_dictionaries(
    {"type": st.sampled_from(["start", "text", "end", "mode", "x"]) | st.text(max_size=6)},
    optional={
        "text": JSON_VALUES,
        "final": JSON_VALUES,
        "revise": JSON_VALUES,
        "mode": st.sampled_from(["livemind", "baseline"]) | JSON_VALUES,
        "sample_rate": st.sampled_from([16000, 8000]) | JSON_VALUES,
        "speech": JSON_VALUES,
    },
)


def _parses_or_refuses(raw: str) -> None:
    try:
        parse_message(raw, 50)
    except ProtocolError as exc:
        assert exc.code and str(exc) and "\n" not in str(exc)


@settings(max_examples=300, deadline=None)
@given(raw=st.text(max_size=200))
def test_fuzzed_text_frames_parse_or_get_a_protocol_error(raw):
    _parses_or_refuses(raw)


@settings(max_examples=500, deadline=None)
@given(message=MESSAGES)
def test_fuzzed_json_messages_parse_or_get_a_protocol_error(message):
    _parses_or_refuses(json.dumps(message))


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300))
def test_fuzzed_audio_frames_decode_or_get_a_protocol_error(data):
    try:
        samples = pcm16_samples(data, 200)
    except ProtocolError as exc:
        assert exc.code in ("too_large", "bad_audio")
    else:
        assert len(samples) == len(data) // 2 and np.all(np.abs(samples) <= 1.0)


def test_audio_allowance_is_real_time_plus_a_burst():
    allowance = AudioAllowance(burst_s=2.0, now=100.0)
    assert allowance.take(2.0, now=100.0)  # the burst, at once
    assert not allowance.take(0.1, now=100.0)  # nothing left
    assert allowance.take(0.5, now=100.5)  # refilled at real time
    assert not allowance.take(0.1, now=100.5)
    assert allowance.take(2.0, now=110.0) and not allowance.take(0.1, now=110.0)  # capped


# -- over WebSockets ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def whisper():
    return WhisperDecoder(load_whisper())


def shared_models(whisper, engine=None) -> SharedModels:
    return SharedModels(
        engine=engine or ScriptedEngine(), decoder=whisper, session_config=SessionConfig()
    )


async def handshake_status(server, **kwargs) -> int:
    try:
        ws = await server.http.ws_connect(server.ws_url, **kwargs)
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status
    await ws.close()
    return 101


async def test_pages_from_other_origins_are_refused_and_programs_are_not(whisper):
    access = AccessPolicy(allowed_origins=frozenset({"https://app.example"}))
    async with running_server(shared_models(whisper), access=access) as server:
        own = server.base_url  # the playground's own page
        assert await handshake_status(server, headers={"Origin": "http://evil.example"}) == 403
        assert await handshake_status(server, headers={"Origin": "null"}) == 403
        assert await handshake_status(server, headers={"Origin": own}) == 101
        assert await handshake_status(server, headers={"Origin": "https://app.example"}) == 101
        assert await handshake_status(server) == 101  # no Origin: a script, not a page
        assert server.sessions == 0


async def test_a_token_is_required_when_set(whisper):
    access = AccessPolicy(token="s3cret")
    async with running_server(shared_models(whisper), access=access) as server:
        assert await handshake_status(server) == 401
        assert await handshake_status(server, headers={"Authorization": "Bearer nope"}) == 401
        assert await handshake_status(server, headers={"Authorization": "Bearer s3cret"}) == 101
        client = await LiveMindClient.connect(
            server.http, server.ws_url + "?token=s3cret", speech=False
        )
        async with server.http.get(server.base_url + "/health") as response:
            assert await response.json() == {"status": "ok"}  # a stranger learns nothing
        authorized = {"Authorization": "Bearer s3cret"}
        async with server.http.get(server.base_url + "/health", headers=authorized) as response:
            assert (await response.json())["sessions"] == 1
        await client.close()


async def test_health_tells_a_stranger_nothing_but_that_it_is_up(whisper):
    async with running_server(shared_models(whisper)) as server:
        response = await server.http.get(server.base_url + "/health")
        assert await response.json() == {"status": "ok"}  # no model name, no load


async def test_sockets_that_never_start_are_closed_despite_pings_and_do_not_fill_the_server(
    whisper,
):
    limits = Limits(max_sessions=1, start_timeout_s=1.0)
    async with running_server(shared_models(whisper), limits) as server:
        # Pings every 0.2 s: aiohttp's per-read timeout restarts at each one.
        loiterers = [await server.http.ws_connect(server.ws_url, heartbeat=0.2) for _ in range(3)]
        user = await server.connect(speech=False)  # the one place is still free
        for ws in loiterers:
            message = await ws.receive(timeout=10)
            assert json.loads(message.data)["code"] == "start_timeout"
            assert (await ws.receive(timeout=10)).type == aiohttp.WSMsgType.CLOSE
            assert ws.close_code == 1008
        await user.send_text("Still here?", final=True)
        assert (await user.until("answer_done", 30))[-1]["text"] == "The answer is 42."


async def test_an_idle_session_times_out_although_the_client_answers_pings(whisper):
    limits = Limits(idle_timeout_s=1.0)
    async with running_server(shared_models(whisper), limits) as server:
        client = LiveMindClient(await server.http.ws_connect(server.ws_url, heartbeat=0.2))
        await client.send({"type": "start", "speech": False})
        await client.until("ready", 10)
        assert (await client.until("error", 10))[-1]["code"] == "idle_timeout"
        with pytest.raises(ServerClosed):
            await client.receive(10)
        await wait_until(lambda: server.sessions == 0, timeout=5)


async def test_audio_faster_than_real_time_is_refused_and_a_flooder_is_cut_off(whisper):
    speech = with_silence(synthesize("One two three four five six seven eight."), after=0.5)
    assert len(speech) * 30 >= 60 * 16000
    flood = np.tile(speech, 30)[: 60 * 16000]  # a minute of audio, sent at once
    limits = Limits(audio_burst_s=2.0, max_refused_audio_s=10.0)
    async with running_server(shared_models(whisper), limits) as server:
        flooder = await server.connect(speech=False)
        (connection,) = server.app[CONNECTIONS]
        other = await server.connect(speech=False)
        started = time.monotonic()
        with contextlib.suppress(ConnectionError):
            await flooder.send_audio(flood, chunk_s=0.1)
        with pytest.raises(ServerClosed):
            while True:
                await flooder.receive(30)
        arriving_s = time.monotonic() - started  # every frame the server took came by then
        errors = [m for m in flooder.received if m["type"] == "error"]
        # One error for the run of refused frames (not one per frame), then the cut-off.
        assert [e["code"] for e in errors] == ["too_fast", "too_fast"], errors
        assert "closing" in errors[1]["message"] and flooder.ws.close_code == 1008
        # Admitted: at most the burst plus real time while the frames arrived.
        assert connection.audio_received_s <= 2.0 + arriving_s + 0.2, arriving_s
        await other.send_text("Can you hear me?", final=True)
        assert (await other.until("answer_done", 30))[-1]["text"] == "The answer is 42."


async def test_a_client_briefly_ahead_of_real_time_is_told_once_per_burst_and_kept(whisper):
    speech = with_silence(synthesize("One two three."), after=0.5)
    three_s = np.tile(speech, 3)[: 3 * 16000]
    # Two bursts refuse 1 s each, 3 s apart: 2 s in all, over the 1.5 s limit, but the first
    # has drained by the second.
    limits = Limits(audio_burst_s=2.0, max_refused_audio_s=1.5, refused_audio_drain=1.0)
    async with running_server(shared_models(whisper), limits) as server:
        client = await server.connect(speech=False)
        for _ in range(2):  # 3 s at once: the burst takes 2 s, the rest is refused
            await client.send_audio(three_s, chunk_s=0.1)
            await asyncio.sleep(3.0)  # then quiet: the allowance fills again
        await client.send({"type": "marker"})  # its error comes after every frame's
        received = await client.until("error", 30)
        while received[-1].get("code") != "unknown_type":
            received += await client.until("error", 30)
        codes = [m["code"] for m in received if m["type"] == "error"]
        assert codes == ["too_fast", "too_fast", "unknown_type"] and not client.ws.closed


async def test_a_turn_has_a_size_cap_in_characters(whisper):
    async with running_server(shared_models(whisper), Limits(max_turn_chars=100)) as server:
        client = await server.connect(speech=False)
        await client.send_text("x" * 60 + " ")
        await client.send_text("y" * 60 + " ")  # 121 characters: over the cap
        error = (await client.until("error", 10))[-1]
        assert error["code"] == "too_large" and "100 characters" in error["message"]
        await client.end()  # the turn as it stood is answered
        done = await client.until("turn_summary", 30)
        assert done[-1]["figures"]["transcript"] == "x" * 60 + " "


async def test_a_turn_has_a_size_cap_in_seconds_of_audio(whisper):
    words = "A farmer plants seeds in the spring and the plants grow tall during the summer"
    speech = with_silence(synthesize(f"{words}. {words}. {words}."), after=1.5)
    async with running_server(shared_models(whisper), Limits(max_turn_audio_s=2.0)) as server:
        client = await server.connect(speech=False)
        talking = asyncio.create_task(client.send_audio(speech, realtime=True))  # on and on
        error = (await client.until("error", 60))[-1]
        assert not talking.done()  # answered before the speaker stopped
        assert error["code"] == "too_large" and "2 s of speech" in error["message"]
        assert (await client.until("answer_done", 60))[-1]["text"] == "The answer is 42."
        talking.cancel()


@pytest.mark.parametrize(
    "failure",
    [
        RuntimeError("secret /internal/path exploded"),  # a bug
        EngineError("cannot reach http://10.0.0.5:8000/v1 (secret backend)"),  # the engine
    ],
)
async def test_a_failing_answer_is_reported_without_its_text_and_the_next_turn_works(
    whisper, failure
):
    failures = [failure]

    def reply(messages, settings):
        if is_answer_prompt(messages) and failures:
            raise failures.pop()
        return default_reply(messages, settings)

    async with running_server(shared_models(whisper, ScriptedEngine(reply))) as server:
        client = await server.connect(speech=False)
        await client.send_text("First question?", final=True)
        error = (await client.until("error", 30))[-1]
        assert "secret" not in json.dumps(client.received)
        assert "failed" in error["message"]
        await client.until("turn_summary", 30)
        await client.send_text("Second question?", final=True)  # was stuck: every turn failed
        assert (await client.until("answer_done", 30))[-1]["text"] == "The answer is 42."


class _StalledSocket:
    """A client that stopped reading: every send waits forever."""

    closed = False

    async def send_str(self, message: str) -> None:
        await asyncio.Event().wait()


class _Transport:
    aborted = False

    def abort(self) -> None:
        self.aborted = True


async def test_a_client_that_stops_reading_is_cut_off_not_buffered_without_bound(whisper):
    transport = _Transport()
    limits = Limits(max_outbox_bytes=10_000)
    connection = Connection(
        _StalledSocket(),
        shared_models(whisper),
        limits,
        transport=transport,  # type: ignore[arg-type]
    )
    sender = asyncio.create_task(connection._send_all())
    for _ in range(100):  # 1 kB events: the first is stuck in send, the rest pile up
        connection._send({"type": "event", "pad": "x" * 1000})
    await asyncio.sleep(0)
    assert transport.aborted and connection.outbox.qsize() <= 10
    sender.cancel()


# -- the benchmark ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"repetition_penalty": 1.0},
        {"free_actions": True},
        {"max_model_len": 4096},
        {"concurrency": 4},
    ],
)
async def test_resuming_with_another_setting_is_refused(tmp_path, change):
    out = tmp_path / "r.jsonl"
    engine = ScriptedEngine(answer_b)
    await run_bench(engine, None, SessionConfig(), SETTINGS, BOTH, out)
    (name,) = change
    with pytest.raises(ValueError, match=f"other settings \\({name}\\)"):
        await run_bench(engine, None, SessionConfig(), replace(SETTINGS, **change), BOTH, out)


async def test_two_runs_on_one_output_file_are_refused(tmp_path):
    out = tmp_path / "r.jsonl"
    with out.open("a") as other_run:
        fcntl.flock(other_run.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ValueError, match="being written by another run"):
            await run_bench(ScriptedEngine(), None, SessionConfig(), SETTINGS, BOTH, out)
    assert out.read_text() == ""


def test_analyze_reports_and_drops_duplicate_questions(tmp_path, capsys):
    path = tmp_path / "r.jsonl"
    rows = [make_record("q-1"), make_record("q-2"), make_record("q-1", latency=9.0)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run,) = load_runs([path])
    assert [r["id"] for r in run.records] == ["q-1", "q-2"]
    assert run.records[0]["latency_s"] == 1.0  # the first kept
    assert "1 duplicate result(s) in the livemind run dropped (first kept): q-1" in (
        capsys.readouterr().err
    )


def test_bench_checks_its_data_before_loading_a_model(tmp_path, monkeypatch, capsys):
    def no_model(args):
        raise AssertionError("the model was loaded before the data was checked")

    monkeypatch.setattr("voice_livemind.cli.bench.open_engines", no_model)
    missing = tmp_path / "nothing.jsonl"
    assert cli_main(["bench", "--data", str(missing), "--output", str(tmp_path / "o")]) == 1
    assert f"no such file or directory: {missing}" in capsys.readouterr().err


async def test_bench_checks_its_output_lock_before_loading_a_model(tmp_path, monkeypatch, capsys):
    def no_model(args):
        raise AssertionError("the model was loaded before the output was checked")

    monkeypatch.setattr("voice_livemind.cli.bench.open_engines", no_model)
    out = tmp_path / "r.jsonl"
    with out.open("a") as other_run:
        fcntl.flock(other_run.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        code = await asyncio.to_thread(cli_main, ["bench", "--output", str(out)])
    assert code == 1 and "being written by another run" in capsys.readouterr().err


# -- the operator ----------------------------------------------------------------------------


def test_allowed_origins_must_be_origins():
    with pytest.raises(ValueError, match="scheme://host"):
        AccessPolicy(allowed_origins=frozenset({"https://app.example/page"}))
    assert AccessPolicy(allowed_origins=frozenset({"http://localhost:3000"}))


@pytest.mark.parametrize(
    ("host", "token", "warned"),
    [("0.0.0.0", None, True), ("192.168.1.5", None, True), ("0.0.0.0", "t", False),
     ("127.0.0.1", None, False), ("localhost", None, False), ("::1", None, False)],
)  # fmt: skip
def test_serving_beyond_loopback_without_a_token_warns(monkeypatch, capfd, host, token, warned):
    class Stop(Exception):
        pass

    async def no_model(args):
        raise Stop  # the warning comes before the models load

    monkeypatch.delenv("VOICE_LIVEMIND_TOKEN", raising=False)
    monkeypatch.setattr("voice_livemind.cli.serve.open_engines", no_model)
    argv = ["serve", "--host", host, *(["--token", token] if token else [])]
    with pytest.raises(Stop):
        cli_main(argv)
    assert ("WARNING: serving on" in capfd.readouterr().err) == warned


def test_a_server_that_cannot_start_is_reported_with_its_log(tmp_path):
    """The harness the engine tests and the load benchmarks start `serve` with says why a
    server never came up instead of waiting for it."""
    from voice_livemind.server.process import ServeFailed, serve_process

    options = ["--model", str(tmp_path / "no-such-model")]
    with (
        pytest.raises(ServeFailed, match="serve exited"),
        serve_process(options, tmp_path / "s.log"),
    ):
        pass
