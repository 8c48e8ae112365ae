"""Rebuild voice_livemind/data/sample_question.flac: the sample question read aloud by piper's
neural voice, the options asked as a person asks them. piper-tts (GPL) is needed here only, to
make the file.

.venv/bin/python scripts/make_demo_audio.py
"""

import asyncio
from pathlib import Path

import av
import numpy as np

from voice_livemind.audio import SpeechSynthesizer
from voice_livemind.bench.spoken_replay import QUESTION_RATE_WPM, QUESTION_VOICES
from voice_livemind.livemind.choices import parse_options
from voice_livemind.livemind.samples import SAMPLE_QUESTION

OUT = Path(__file__).resolve().parent.parent / "voice_livemind" / "data" / "sample_question.flac"


def demo_text() -> str:
    """The question, then its options asked as a person asks them ("Is it option A, milk? ...
    Or option D, bread?"): tiny.en hears piper's "Option A: milk." as "auction a milk"."""
    options = parse_options(SAMPLE_QUESTION)
    stem = SAMPLE_QUESTION[: SAMPLE_QUESTION.index("Options:")].strip()
    asked = [f"option {o.label}, {o.text}?" for o in options]
    asked[0] = "Is it " + asked[0]
    asked[-1] = "Or " + asked[-1]
    asked[1:-1] = [a[0].upper() + a[1:] for a in asked[1:-1]]
    return f"{stem} {' '.join(asked)}"


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
