"""When the user talks over the answer: the barge-in decision.

The recogniser's `SpeechStarted` is the wrong trigger: it is tuned to catch every utterance
(a start needs one window at the speech threshold, then 0.25 s above a lower one), so a cough or
a burst of noise that Silero rates half-likely speech starts one, and it comes 0.25 s after the
user started, which the user hears as the assistant talking on. Barge-in has the opposite
needs: stop fast, and only for speech.

So the answer stops on either of two pieces of evidence:
- the voice: `BARGE_IN_SPEECH_S` of consecutive Silero windows at or above `BARGE_IN_THRESHOLD`
  (no window below it in between). Speech reaches that within a few windows of its onset;
  white noise and coughs stay far below it on Silero's scale (`tests/test_barge_in.py`).
- the words: the recogniser committed words while the answer was spoken (slower: seconds),
  which catches speech too quiet for the first rule. Unconfirmed words do not count: Whisper
  sometimes hears words in noise, rarely the same ones twice.

`BargeInDetector` applies the first rule to the audio as it arrives, on its own Silero state,
before the audio waits for the recogniser's thread: a Whisper decode in progress (this
connection's or, on a server, another's) never delays the stop.
"""

from __future__ import annotations

import numpy as np

from ..asr.vad import StreamingVad, VadConfig

# Silero's probability that counts as voiced for a barge-in (its own default threshold). No
# hysteresis: one window below it ends the run, so scattered likely windows do not add up.
BARGE_IN_THRESHOLD = 0.5
# Consecutive voiced audio that stops the answer: two 32 ms Silero windows. Speech scores far
# above the threshold from its first voiced window on, and each window asked for adds 32 ms to
# the stop; noise and coughs stay under 0.4 (`tests/test_barge_in.py`), so one window would
# already do, and the second guards against a single stray one.
BARGE_IN_SPEECH_S = 0.06


class BargeInDetector:
    """Feed it the input while the answer is spoken; it says when the user is talking."""

    def __init__(
        self, threshold: float = BARGE_IN_THRESHOLD, speech_s: float = BARGE_IN_SPEECH_S
    ) -> None:
        self._config = VadConfig(
            threshold=threshold, neg_threshold=threshold, min_speech_s=speech_s, start_pad_s=0.0
        )
        self._vad: StreamingVad | None = None

    def hears_speech(self, samples: np.ndarray) -> bool:
        """True once the audio so far (since the last `reset`) holds the evidence of speech."""
        if self._vad is None:
            self._vad = StreamingVad(self._config)
        return any(t.kind == "start" for t in self._vad.feed(samples))

    def reset(self) -> None:
        """Forget the audio heard: the next answer starts from silence."""
        self._vad = None
