"""The end-of-turn decision: how much silence ends the turn, given what the system knows.

Silence alone must wait long: people pause for half a second and more mid-turn (after a
question, before and between options, after an "um"). Each signal below can vouch for an end:
- acoustic: Smart Turn's P(complete) at or above `acoustic_threshold` (`acoustic.py`);
- transcript: a finished question (a "?" or a sentence opening with a question word), or every
  announced option read (`transcript.py`);
- LiveMind: an inference judged the question complete and its answer is ready
  (`livemind_state.py`).
And some facts say the turn is not over, whatever the rest says: options announced and not all
read, a question about "the following" before any option, a trailing "um", a sentence that
stops on "the" or "of", LiveMind's inference saying more is coming.

The result is the silence needed: `short_silence_s` when signals agree, `medium_silence_s`
when one vouches and nothing objects, `full_silence_s` otherwise. Pure logic, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from .livemind_state import LiveMindState
from .transcript import TranscriptSignals


@dataclass(frozen=True)
class EndpointingConfig:
    short_silence_s: float = 0.2  # signals agree: the turn is over
    medium_silence_s: float = 0.6  # one signal vouches, none objects
    full_silence_s: float = 1.5  # nothing vouches, or something objects (longer than most pauses)
    acoustic_threshold: float = 0.5  # Smart Turn P(complete) that counts as "complete"
    expected_options: int = 4  # options read before "all read" (MMLU: 4; MMLU-Pro up to 10)

    def __post_init__(self) -> None:
        if not 0.0 < self.short_silence_s <= self.medium_silence_s <= self.full_silence_s:
            raise ValueError(
                "endpointing silences must satisfy 0 < short <= medium <= full, got "
                f"{self.short_silence_s}, {self.medium_silence_s}, {self.full_silence_s}"
            )
        if not 0.0 <= self.acoustic_threshold <= 1.0:
            raise ValueError(f"acoustic_threshold must be in [0, 1], not {self.acoustic_threshold}")


@dataclass(frozen=True)
class TurnEvidence:
    """What is known early in a pause; None: that signal is not available."""

    p_complete: float | None = None  # Smart Turn on the audio so far
    transcript: TranscriptSignals | None = None  # over the text recognised so far
    livemind: LiveMindState | None = None


@dataclass(frozen=True)
class EndpointDecision:
    silence_s: float  # the turn ends once the pause has lasted this long
    reason: str  # which signals decided, for logs and benchmarks


def required_silence(
    evidence: TurnEvidence, config: EndpointingConfig | None = None
) -> EndpointDecision:
    """The silence after which this pause ends the turn (see the module docstring)."""
    cfg = config or EndpointingConfig()
    text, state = evidence.transcript, evidence.livemind
    full = lambda reason: EndpointDecision(cfg.full_silence_s, reason)  # noqa: E731
    if text is not None:
        if text.options_pending(cfg.expected_options):
            return full("options announced, not all read")
        if text.options_expected:
            return full("the question refers to options not yet read")
        if text.ends_with_filler:
            return full("ends with a filler")
        if text.ends_dangling:
            return full("sentence unfinished")
    if state is not None and state.says_incomplete:
        return full("LiveMind: question incomplete")

    acoustic = evidence.p_complete is not None and evidence.p_complete >= cfg.acoustic_threshold
    acoustic_no = evidence.p_complete is not None and not acoustic
    options_read = text is not None and text.options.all_read(cfg.expected_options)
    textual = text is not None and (text.question or options_read)
    livemind = state is not None and state.says_complete
    vouching = [
        name for name, v in (("acoustic", acoustic), ("text", textual), ("LiveMind", livemind)) if v
    ]
    if len(vouching) >= 2:
        return EndpointDecision(cfg.short_silence_s, " + ".join(vouching))
    if len(vouching) == 1 and not acoustic_no:
        return EndpointDecision(cfg.medium_silence_s, vouching[0])
    # Every announced option read, or LiveMind having read the question, outweighs the audio
    # model, which hears prosody only (a reader's flat last option sounds unfinished to it).
    if options_read:
        return EndpointDecision(cfg.medium_silence_s, "options read, acoustic disagrees")
    if livemind:
        return EndpointDecision(cfg.medium_silence_s, "LiveMind, acoustic disagrees")
    return full("no agreement" if vouching else "nothing vouches")
