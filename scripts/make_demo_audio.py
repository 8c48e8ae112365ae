"""Rebuild voice_livemind/data/sample_question.flac: the sample question read aloud by piper's
neural voice, the options as a person reads them ("Option A: milk. Option B: ..."), as the spoken
benchmark reads its questions. piper-tts (GPL) is needed here only, to make the file.

.venv/bin/python scripts/make_demo_audio.py
"""

import asyncio
from pathlib import Path

import av
import numpy as np

from voice_livemind.audio import SpeechSynthesizer
from voice_livemind.bench.datasets import Question
from voice_livemind.bench.spoken import spoken_text
from voice_livemind.bench.spoken_replay import QUESTION_RATE_WPM, QUESTION_VOICES
from voice_livemind.livemind.choices import parse_options
from voice_livemind.livemind.samples import SAMPLE_ANSWER, SAMPLE_QUESTION

OUT = Path(__file__).resolve().parent.parent / "voice_livemind" / "data" / "sample_question.flac"


def demo_text() -> str:
    options = parse_options(SAMPLE_QUESTION)
    stem = SAMPLE_QUESTION[: SAMPLE_QUESTION.index("Options:")].strip()
    question = Question(
        "sample", "sample", "sample", stem, tuple(o.text for o in options), SAMPLE_ANSWER
    )
    return spoken_text(question)


async def main() -> None:
    text = demo_text()
    voice = SpeechSynthesizer(QUESTION_RATE_WPM, QUESTION_VOICES["piper"], backend="piper")
    samples, rate = await voice.synthesize(text)
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
    with av.open(str(OUT), "w") as container:
        stream = container.add_stream("flac", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    print(f"{OUT}: {text!r}, {len(samples) / rate:.1f} s, {OUT.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    asyncio.run(main())
