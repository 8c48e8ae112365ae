"""Drive MicrophoneSource and SpeakerSink through the fake ALSA devices; print a JSON summary.

Run in a fresh process with ALSA_CONFIG_PATH and FAKE_MIC_RAW set (see fake_devices.conf):
PortAudio only reads the ALSA configuration when it initialises.
"""

from __future__ import annotations

import asyncio
import json

import numpy as np

from voice_livemind.audio import AudioSourceError, MicrophoneSource, SpeakerSink

FRAMES = 25


async def capture(device: str | None) -> dict[str, object]:
    source = MicrophoneSource(device=device, frame_ms=20, max_queued_frames=1000)
    frames = []
    async for frame in source:
        frames.append(frame)
        if len(frames) == FRAMES:
            source.stop()
    audio = np.concatenate([f.samples[:] for f in frames[:FRAMES]])
    return {
        "frames": len(frames),
        "frame_lengths": sorted({len(f.samples) for f in frames}),
        "t": [f.t for f in frames[:FRAMES]],
        "dtype": str(frames[0].samples.dtype),
        "head": audio[:8].tolist(),
        "peak": float(np.abs(audio).max()),
        "dropped": source.dropped,
    }


async def stalled_consumer() -> dict[str, object]:
    """A consumer slower than the device: the oldest frames are dropped, stream time goes on."""
    source = MicrophoneSource(device="fakemic", max_queued_frames=4)
    times = []
    async for frame in source:
        times.append(frame.t)
        await asyncio.sleep(0.05)  # the fake device delivers much faster than real time
        if len(times) == 5:
            source.stop()
    return {"t": times, "dropped": source.dropped}


def main() -> None:
    result: dict[str, object] = {"named": asyncio.run(capture("fakemic"))}
    result["default"] = asyncio.run(capture(None))
    result["stalled"] = asyncio.run(stalled_consumer())
    try:
        MicrophoneSource(device=999)
    except AudioSourceError as exc:
        result["bad_device_error"] = str(exc)
    with SpeakerSink() as speaker:  # the default device: the fake null output
        speaker.write(np.zeros(4410, dtype=np.float32), 22050)
        result["played_s"] = speaker.seconds_written
    print(json.dumps(result))


if __name__ == "__main__":
    main()
