"""`voice-livemind serve` as a user starts it: real vLLM (SmolLM2), real Whisper, real TTS, real
sockets on 127.0.0.1, and the playground in headless chromium.

One server for the module (one vLLM engine alive at a time on this two-core machine). Checks are
on events and structure, never on timing or on what the weak model answers.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from browser import MISSING, headless_chromium

from voice_livemind.asr.wer import wer
from voice_livemind.audio.speech_samples import synthesize, with_silence, write_wav
from voice_livemind.server.client import LiveMindClient
from voice_livemind.server.process import serve_process

pytestmark = pytest.mark.engine

SPOKEN = (
    "A farmer plants seeds in the spring. The plants grow tall during the summer. "
    "When does the farmer harvest the crop?"
)


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    options = ["--max-answer-tokens", "48", "--max-sessions", "4"]
    with serve_process(options, log) as server:  # stopped with Ctrl-C: it closes its engine
        yield server.url


def ws_url(server_url: str) -> str:
    return server_url.replace("http://", "ws://") + "/ws"


async def type_question(client: LiveMindClient, sentences: list[str]) -> list[dict]:
    """Type word by word; return the whole turn's messages (through `turn_summary`)."""
    for sentence in sentences:
        for word in sentence.split():
            await client.send_text(word + " ")
            await asyncio.sleep(0.05)
    await client.end()
    return await client.until("turn_summary", 240)


async def test_two_concurrent_text_sessions_each_get_their_own_answer(server_url):
    questions = {
        "sheep": ["A farmer has seventeen sheep.", "He buys five more.", "How many now?"],
        "train": ["A train leaves at noon.", "It travels for two hours.", "When does it stop?"],
    }
    async with aiohttp.ClientSession() as http:
        clients = {
            name: await LiveMindClient.connect(http, ws_url(server_url), speech=False)
            for name in questions
        }
        turns = await asyncio.gather(
            *(type_question(clients[name], q) for name, q in questions.items())
        )
        for (name, sentences), turn in zip(questions.items(), turns, strict=True):
            ended = next(m for m in turn if m["type"] == "input_ended")
            assert ended["text"].split() == " ".join(sentences).split()  # no cross-talk
            assert any(m["type"] == "inference_started" for m in turn)
            done = next(m for m in turn if m["type"] == "answer_done")
            assert done["text"].strip() and done["tokens"]["generated_tokens"] > 0
            assert not [m for m in turn if m["type"] == "error"], name
            figures = turn[-1]["figures"]
            assert figures["answer_text"] == done["text"]
            assert figures["input_end_to_answer_s"] > 0
        for client in clients.values():
            await client.close()
        async with http.get(f"{server_url}/health") as health:
            assert await health.json() == {"status": "ok"}  # no token set: no details


async def test_spoken_turn_over_websocket(server_url):
    audio = with_silence(synthesize(SPOKEN), before=0.3, after=1.5)
    async with aiohttp.ClientSession() as http:
        client = await LiveMindClient.connect(http, ws_url(server_url))
        await client.send_audio(audio, realtime=True)  # audio beyond real time is refused
        turn = await client.until("turn_summary", 240)
        await client.close()
    kinds = [m["type"] for m in turn]
    assert kinds.index("speech_ended") < kinds.index("utterance_ended") < kinds.index("input_ended")
    assert "tts_audio" in kinds and "error" not in kinds
    figures = turn[-1]["figures"]
    assert wer(SPOKEN, figures["transcript"]) < 0.3, figures["transcript"]
    assert figures["answer_text"].strip()
    assert figures["end_of_speech_to_first_audio_s"] is not None


def _wait_for(driver, css: str, timeout_s: float) -> list:
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout_s
    while not (found := driver.find_elements(By.CSS_SELECTOR, css)):
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing matched {css!r} in {timeout_s:g} s")
        time.sleep(0.2)
    return found


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
def test_playground_in_a_browser_thinks_while_typing(server_url):
    from selenium.webdriver.common.by import By

    driver = headless_chromium()
    try:
        driver.get(server_url + "/")
        _wait_for(driver, '#status[data-state="ready"]', 30)
        assert driver.find_element(By.ID, "livemind").is_selected()
        box = driver.find_element(By.ID, "input")
        box.send_keys("A farmer has seventeen sheep. He buys five more at the market. ")
        # Inferences appear while the question is still being typed (nothing submitted yet).
        thought = _wait_for(driver, "#actions li.inference, #actions li.wait", 120)
        assert thought[0].text and not driver.find_elements(By.CSS_SELECTOR, "#conversation li")
        box.send_keys("How many sheep does he have now?")
        driver.find_element(By.ID, "send").click()
        row = _wait_for(driver, "#latency tbody tr", 240)[0]
        user, answer = driver.find_elements(By.CSS_SELECTOR, "#conversation li")
        assert user.text.endswith("How many sheep does he have now?") and answer.text.strip()
        assert row.text.startswith("1 livemind")
        assert driver.find_element(By.ID, "errors").text == ""
    finally:
        driver.quit()


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
def test_playground_microphone_turn(server_url, tmp_path):
    """Chromium's fake microphone plays a spoken question (espeak) into the page's capture."""
    from selenium.webdriver.common.by import By

    wav = tmp_path / "question.wav"
    write_wav(wav, with_silence(synthesize(SPOKEN), before=0.5, after=2.0))
    driver = headless_chromium(fake_audio_file=str(wav))
    try:
        driver.get(server_url + "/")
        _wait_for(driver, '#status[data-state="ready"]', 30)
        driver.find_element(By.ID, "mic").click()
        _wait_for(driver, "#latency tbody tr", 240)
        user, answer = driver.find_elements(By.CSS_SELECTOR, "#conversation li")
        assert wer(SPOKEN, user.text) < 0.4, user.text
        assert answer.text.strip()
        assert driver.find_element(By.ID, "errors").text == ""
    finally:
        driver.quit()
