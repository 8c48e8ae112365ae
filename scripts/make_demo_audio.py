"""Rebuild voice_livemind/data/sample_question.flac: the sample question read by espeak-ng.

.venv/bin/python scripts/make_demo_audio.py
"""

import asyncio
from pathlib import Path

import av
import numpy as np

from voice_livemind.audio import SpeechSynthesizer
from voice_livemind.livemind.samples import SAMPLE_QUESTION

OUT = Path(__file__).resolve().parent.parent / "voice_livemind" / "data" / "sample_question.flac"


async def main() -> None:
    samples, rate = await SpeechSynthesizer(rate=160).synthesize(SAMPLE_QUESTION)
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
    with av.open(str(OUT), "w") as container:
        stream = container.add_stream("flac", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    print(f"{OUT}: {len(samples) / rate:.1f} s, {OUT.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    asyncio.run(main())
