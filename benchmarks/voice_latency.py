"""End of speech to first spoken audio, LiveMind vs baseline, on spoken questions.

Each question (the bundled demo question plus a few synthesised by espeak-ng) is replayed in
real time through the whole voice pipeline (VAD, streaming tiny.en, session, pyttsx3 to a null
sink), once per mode, alternating, on one engine in one run.

    .venv/bin/python benchmarks/voice_latency.py [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from speech import BENCH_QUESTIONS, synthesize, with_silence

from voice_livemind.asr.recognizer import create_recognizer
from voice_livemind.audio import ArraySource, NullSink, SentenceSpeaker, SpeechSynthesizer
from voice_livemind.audio.sources import decode_file
from voice_livemind.cli.voice import TRAILING_SILENCE_S, demo_audio
from voice_livemind.events import Clock, EventBus
from voice_livemind.livemind.config import Mode, SessionConfig
from voice_livemind.livemind.samples import (
    MULTIPLE_CHOICE_ANSWER_PREFIX,
    MULTIPLE_CHOICE_INSTRUCTION,
)
from voice_livemind.livemind.session import LiveMindSession
from voice_livemind.llm.vllm_engine import VllmEngine
from voice_livemind.voice.pipeline import VoicePipeline

# The first three: the clips q1-q3 of the voice latency table in RESULTS.md.
QUESTIONS = BENCH_QUESTIONS[:3]


async def one(engine, synthesizer, audio, mode: Mode) -> dict:
    clock, bus = Clock(), EventBus()
    speaker = SentenceSpeaker(synthesizer, NullSink(), clock=clock, on_event=bus.publish)
    # As `voice-livemind demo` runs it: LiveMind with the answer prefill and the answer prepared
    # in each pause; the baseline transcribes, then thinks.
    livemind = mode is Mode.LIVEMIND
    config = SessionConfig(
        mode=mode,
        answer_instruction=MULTIPLE_CHOICE_INSTRUCTION,
        answer_prefix=MULTIPLE_CHOICE_ANSWER_PREFIX if livemind else "",
    )
    session = LiveMindSession(engine, config, bus=bus, clock=clock)
    source = ArraySource(audio, realtime=True, pad_s=TRAILING_SILENCE_S)
    turns = await VoicePipeline(create_recognizer(), session, speaker).run(aiter(source))
    await session.close()
    return turns[0].to_dict() if turns else {}


async def main(args: argparse.Namespace) -> None:
    clips = {"demo": decode_file(demo_audio())}
    clips.update(
        {f"q{i}": with_silence(synthesize(q), before=0.3) for i, q in enumerate(QUESTIONS, 1)}
    )
    engine = await VllmEngine.start()
    synthesizer = SpeechSynthesizer()
    rows = []
    try:
        for name, audio in clips.items():
            for mode in (Mode.LIVEMIND, Mode.BASELINE):
                row = {
                    "clip": name,
                    "mode": mode.value,
                    **await one(engine, synthesizer, audio, mode),
                }
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    finally:
        await engine.close()
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        "| clip | mode | inferences before end of speech | end of speech -> first audio s | ",
        end="",
    )
    print("-> answer complete s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['clip']} | {r['mode']} | {r.get('inferences_before_speech_end')} | "
            f"{r.get('end_of_speech_to_first_audio_s')} | {r.get('end_of_speech_to_answer_s')} |"
        )
    for mode in ("livemind", "baseline"):
        values = [
            r["end_of_speech_to_first_audio_s"]
            for r in rows
            if r["mode"] == mode and r.get("end_of_speech_to_first_audio_s") is not None
        ]
        if values:
            print(f"{mode}: mean end of speech -> first audio {statistics.mean(values):.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    asyncio.run(main(parser.parse_args()))
