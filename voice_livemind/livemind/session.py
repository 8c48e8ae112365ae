"""The LiveMind session: the only place that decides when the model is called.

Text arrives with `feed()` (or `revise()` when earlier text changed). While input is open,
one background task turns each newly stable segment into an inference call, at most one call
in flight; segments that arrive meanwhile are folded into the next call. `end()` closes the
input, either aborts the in-flight inference (default: its work is redone as part of the
answer) or waits for it (the paper's behaviour), and streams the final answer. Then the
session is ready for the next turn of the conversation.

`speculate()` (the user paused) may start the final answer before `end()`: if the input then
ends unchanged, `end()` keeps it and its first words are ready at once; new input drops it.
The answer prepared in a pause and the inferences share the engine (vLLM batches them): an
inference in flight is aborted only when a revision changes the text it read, or when the
input ends (abort policy). The answer is prepared again when an inference lands, so that it
uses every inference finished by then. `mark_pause()` (the speaker paused) makes the input so
far a phrase to think about, even where no sentence has ended.

Compute budget, for one session on a small CPU: a speculative answer in its prefill goes
first. No new inference starts until it streams its first text (its first sentence is what a
user hears when the pause was the end); the inference already in flight runs on beside it.

Every step is published as a typed event on the session's `EventBus`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from ..events import (
    AnswerDelta,
    AnswerDone,
    AnswerFirstToken,
    AnswerStarted,
    Clock,
    ErrorEvent,
    EventBus,
    InferenceAborted,
    InferenceDone,
    InferenceStarted,
    InputEnded,
    InputRevised,
    SegmentCommitted,
    SpeculationDiscarded,
    SpeculationStarted,
    TokenCounts,
)
from ..llm.base import (
    ChatEngine,
    Chunk,
    EngineError,
    Message,
    PromptTooLongError,
    SamplingSettings,
    Usage,
    abort_in_background,
    complete,
)
from .actions import parse_action
from .calibration import LETTER_TOP_LOGPROBS, label_logprobs, letter_prior, rotated_choice
from .choices import (
    LABELS,
    Option,
    OptionStyle,
    calibrated_letter,
    extract_answer,
    letter_regex,
    option_style,
    parse_options,
    spoken_choice,
    stated_answer,
)
from .config import AnswerStyle, EndPolicy, Mode, SessionConfig
from .memory import InferenceMemory, common_prefix_len
from .prompts import (
    LETTER_REQUEST,
    SPOKEN_ANSWER_INSTRUCTION,
    SpokenText,
    baseline_messages,
    final_messages,
    inference_messages,
)
from .samples import MULTIPLE_CHOICE_ANSWER_PREFIX, MULTIPLE_CHOICE_INSTRUCTION
from .segmenter import StreamingSegmenter
from .speculation import SpeculativeAnswer

E = TypeVar("E")

# The answer letter alone ("C", ")", then the end the grammar forces), greedy, and no
# repetition penalty, which would only weigh against letters the option list happens to
# tokenize alike.
LETTER_SETTINGS = SamplingSettings(max_tokens=3)
# Room the letter continuation needs beyond the reply: the request text plus the letter.
LETTER_RESERVE_TOKENS = 16
# LiveMind's free final reply to a question with options: it names the answer (or weighs the
# options in a sentence or two, `WEIGH_INSTRUCTION`); a small model that rambles instead is cut
# here and asked for its letter, so the last step stays short whatever the answer budget.
CHOICE_REPLY_MAX_TOKENS = 64


def letter_prompt(config: SessionConfig) -> Callable[[str], list[Message]]:
    """How `config`'s answer asks a question (text with options) for its letter, with no
    history and no inferences: the prompt shape the letter prior is measured in."""

    def build(text: str) -> list[Message]:
        instruction = config.answer_instruction or MULTIPLE_CHOICE_INSTRUCTION
        if config.mode is Mode.BASELINE:
            messages = baseline_messages([], text, instruction)
        else:
            messages = final_messages(
                config.prompt_format, [], [], text, instruction, config.final_instruction
            )
        prefix = config.answer_prefix or MULTIPLE_CHOICE_ANSWER_PREFIX
        return [*messages, {"role": "assistant", "content": prefix}]

    return build


def _retrieve_exception(task: asyncio.Task[dict[str, float]]) -> None:
    """A prior measured for an answer that no longer waits for it fails quietly."""
    if not task.cancelled():
        task.exception()


@dataclass(frozen=True)
class AnswerUsage(Usage):
    """The usage of a whole final answer: its reply plus any letter continuation."""

    letter_extracted: bool = False


@dataclass(frozen=True)
class TurnResult:
    turn: int
    text: str
    answer: str
    inferences: list[str]
    input_ended_t: float
    answer_first_token_t: float | None
    answer_done_t: float
    in_flight_at_end: bool
    finish_reason: str | None
    tokens: TokenCounts = field(default_factory=TokenCounts)

    @property
    def latency_s(self) -> float:
        """End of input to the complete answer (the paper's latency)."""
        return self.answer_done_t - self.input_ended_t

    @property
    def ttft_s(self) -> float | None:
        """End of input to the first answer token."""
        t = self.answer_first_token_t
        return None if t is None else t - self.input_ended_t


def _answer_usage(usages: list[Usage], letter_extracted: bool) -> AnswerUsage:
    """One answer's requests together; the finish reason is the reply's own (the first)."""
    cached = [u.cached_prompt_tokens for u in usages if u.cached_prompt_tokens is not None]
    first = [u.first_token_at for u in usages if u.first_token_at is not None]
    last = [u.last_token_at for u in usages if u.last_token_at is not None]
    return AnswerUsage(
        prompt_tokens=sum(u.prompt_tokens for u in usages),
        cached_prompt_tokens=sum(cached) if cached else None,
        generated_tokens=sum(u.generated_tokens for u in usages),
        first_token_at=min(first, default=None),
        last_token_at=max(last, default=None),
        finish_reason=usages[0].finish_reason if usages else None,
        letter_extracted=letter_extracted,
    )


def _token_counts(usage: Usage) -> TokenCounts:
    return TokenCounts(
        prompt_tokens=usage.prompt_tokens,
        cached_prompt_tokens=usage.cached_prompt_tokens,
        generated_tokens=usage.generated_tokens,
    )


class LiveMindSession:
    """One conversation with one user. Use inside a running event loop."""

    def __init__(
        self,
        engine: ChatEngine,
        config: SessionConfig | None = None,
        *,
        answer_engine: ChatEngine | None = None,
        bus: EventBus | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.engine = engine
        self.answer_engine = answer_engine or engine  # collaborative mode: a second model
        self.config = config or SessionConfig()
        self.bus = bus or EventBus()
        self.clock = clock or Clock()
        self.history: list[Message] = []  # earlier turns: user text, assistant answer
        self.memory = InferenceMemory()
        self.turn = 0
        self._id = uuid.uuid4().hex[:8]
        self._calls = itertools.count()
        self._in_flight: str | None = None  # the inference call in flight
        self._in_flight_prefix_chars = 0  # how much of the input that call has read
        self._answer_stop: asyncio.Event | None = None  # set: the answer being generated stops
        self._reset_turn_state()

    # -- input ---------------------------------------------------------------------------

    @property
    def text(self) -> str:
        return self._input

    def feed(self, text: str) -> None:
        """Append newly arrived input."""
        if text:
            self._on_input(self._input + text)

    def set_mode(self, mode: Mode) -> None:
        """LiveMind or the baseline from the next turn on; between turns only."""
        if self._input or self._ended:
            raise RuntimeError("the mode can change between turns only")
        self.config = replace(self.config, mode=mode)

    def revise(self, text: str) -> None:
        """Replace the whole input of this turn; inferences on the unchanged prefix are kept."""
        if self._ended:
            raise RuntimeError("input has ended for this turn; wait for end() to return")
        if text == self._input:
            return
        dropped = self.memory.revise(text)
        common = common_prefix_len(text, self._input)
        self._publish(InputRevised, common_prefix_chars=common, dropped_inferences=dropped)
        self._segmenter = self._new_segmenter()
        self._segmenter.update(text[:common])  # published before the edit: not again
        self._pause_end = min(self._pause_end, common)
        if self._in_flight and common < self._in_flight_prefix_chars and self._thinker:
            # The call in flight read text that changed: its reply is worthless. A call that
            # read only the unchanged prefix goes on.
            self._thinker.cancel("input revised")
            self._thinker = None
        self._on_input(text)

    def _on_input(self, text: str) -> None:
        if self._ended:
            raise RuntimeError("input has ended for this turn; wait for end() to return")
        if self._speculations() and text != self._input:
            self.discard_speculation("input changed")
        self._input = text
        if self.config.mode is not Mode.LIVEMIND:
            return
        if self._segmenter is None:
            self._segmenter = self._new_segmenter()
        published = len(self._segmenter.segments)
        for index, new in enumerate(self._segmenter.update(text), start=published):
            self._publish(SegmentCommitted, index=index, text=new)
        self._wake_thinker()

    def _wake_thinker(self) -> None:
        """There is input to think about: start the thinker if none runs, and wake it."""
        if self._thinker is None:
            self._thinker = asyncio.get_running_loop().create_task(self._think())
        self._idle.clear()
        self._wake.set()

    def _new_segmenter(self) -> StreamingSegmenter:
        # Per message, only the text past the last stable segment is segmented again: the work
        # a message costs does not grow with the turn (the event loop is shared by all users).
        return StreamingSegmenter(self.config.granularity, self.config.min_segment_chars)

    # -- thinking while input arrives ------------------------------------------------------

    def mark_pause(self) -> None:
        """The speaker paused, and everything heard is in the input: the input so far is a
        phrase to think about, even if no sentence has ended (a transcript of speech often
        has no punctuation until the end). Shorter new text than `min_segment_chars` waits."""
        if self._ended or self.config.mode is not Mode.LIVEMIND or not self._input.strip():
            return
        if len(self._input) > self._pause_end:
            self._pause_end = len(self._input)
            self._wake_thinker()

    def _unconsumed_stable_text(self) -> str:
        stable = self._segmenter.stable_text if self._segmenter else ""
        consumed = self.memory.consumed_text
        if not self._input.startswith(consumed):
            return ""
        end = len(stable)
        if self._pause_end - len(consumed) >= max(self.config.min_segment_chars, 1):
            end = max(end, self._pause_end)
        return self._input[len(consumed) : end]

    async def _think(self) -> None:
        try:
            while not self._ended and not self._thinking_failed:
                new_text = self._unconsumed_stable_text()
                if not new_text:
                    self._idle.set()
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                if not self._answer_prefilled.is_set():
                    await self._answer_prefilled.wait()  # the budget: see the module docstring
                    continue
                await self._infer(new_text)
        finally:
            if self._thinker in (None, asyncio.current_task()):  # not replaced by a revision
                self._idle.set()

    async def until_idle(self) -> None:
        """Wait until no inference runs and every stable segment has been thought about."""
        await self._idle.wait()

    async def _infer(self, new_text: str) -> None:
        call_id = f"{self._id}-t{self.turn}-i{next(self._calls)}"
        settings = self.config.inference
        consumed = self.memory.consumed_text
        prefix = consumed + new_text
        try:
            messages = await self._fit(
                self.engine,
                settings,
                lambda history: inference_messages(
                    self.config.prompt_format, history, self.memory.steps, new_text
                ),
            )
            if self._ended:
                return
            self._publish(InferenceStarted, call_id=call_id, new_text=new_text)
            self._in_flight, self._in_flight_prefix_chars = call_id, len(prefix)
            reply, usage = await complete(self.engine, messages, settings, call_id)
        except asyncio.CancelledError as cancelled:
            if self._in_flight == call_id:
                # The reason travels as the cancel message ("input ended" from `end()`).
                reason = cancelled.args[0] if cancelled.args else "input ended"
                self._publish(InferenceAborted, call_id=call_id, reason=reason)
                abort_in_background(self.engine.abort, call_id)  # cancelling may not abort it
            raise
        except EngineError as exc:
            self._thinking_failed = True  # the answer step will report it again if it persists
            self._publish(ErrorEvent, message=f"inference failed: {exc}")
            return
        finally:
            if self._in_flight == call_id:
                self._in_flight = None
        # Revised while the model was thinking (even if revised back: memory was cut then)?
        if not self._input.startswith(prefix) or self.memory.consumed_text != consumed:
            self._publish(InferenceAborted, call_id=call_id, reason="input revised")
            return
        action = parse_action(reply)
        self.memory.record(new_text, action)
        self._publish(
            InferenceDone,
            call_id=call_id,
            action=action.kind.value,
            text=action.content,
            valid=action.valid,
            tokens=_token_counts(usage),
        )
        if action.kind.value == "inference":
            self._prepare_again()

    async def _fit(
        self,
        engine: ChatEngine,
        settings: SamplingSettings,
        build: Callable[[list[Message]], list[Message]],
        trim_history: bool = True,
    ) -> list[Message]:
        """Build the prompt from the conversation history, forgetting the oldest turns, then
        the oldest inferences, until prompt plus output fit the context. The input of this turn
        itself is never cut; history is only trimmed for good once the prompt fits (and
        `trim_history`: a speculative answer leaves the conversation as it was)."""
        history = list(self.history)
        while True:
            messages = build(history)
            # Byte-level tokenizers make at most one token per UTF-8 byte, so this bound
            # skips most exact counts.
            upper_bound = sum(len(m["content"].encode()) + 8 for m in messages)
            needed = upper_bound + settings.max_tokens
            if needed > engine.context_tokens:
                needed = await engine.count_tokens(messages) + settings.max_tokens
            if needed <= engine.context_tokens:
                if trim_history:
                    self.history[:] = history
                return messages
            if history:
                del history[:2]
            elif not self.memory.forget_oldest_inference():
                raise PromptTooLongError(
                    f"input of {len(self._input)} characters needs {needed} tokens, more than "
                    f"the {engine.context_tokens}-token context of {engine.name}"
                )

    async def warm_up(self) -> None:
        """One inference-shaped call and one answer-shaped call on a throwaway prompt,
        published nowhere, and, for a free reply, the letter prior of four-option questions in
        the style this session answers (spoken: options read aloud): the first question then
        pays neither for compiling the action grammar, nor for the engine's first requests, nor
        for the prior."""
        cfg = self.config
        if cfg.calibrate_letter and not cfg.answer_prefix and self.answer_engine.reports_logprobs:
            spoken = cfg.answer_style is AnswerStyle.SPOKEN
            style = OptionStyle.SPOKEN if spoken else OptionStyle.PARENTHESES
            await letter_prior(self.answer_engine, letter_prompt(cfg), LABELS[:4], ")", style)
        inference = inference_messages(cfg.prompt_format, [], (), "The sky is blue today.")
        await complete(
            self.engine, inference, replace(cfg.inference, max_tokens=4), f"{self._id}-warm-i"
        )
        answer: list[Message] = [{"role": "user", "content": "Say hello."}]
        await complete(
            self.answer_engine, answer, replace(cfg.answer, max_tokens=2), f"{self._id}-warm-a"
        )

    # -- what LiveMind knows about the end of the turn ----------------------------------------

    @property
    def question_complete(self) -> bool | None:
        """What the latest inference says about the input so far: True when it inferred on all
        of it, False when it chose to wait for more, None when it has not read all of it."""
        steps = self.memory.steps
        if not steps or self.memory.consumed_text.strip() != self._input.strip():
            return None
        return steps[-1].action.kind.value == "inference"

    @property
    def answer_ready(self) -> bool:
        """An answer prepared in this pause, on the input so far, is streaming."""
        return any(s.streaming and s.text == self._input for s in self._speculations())

    # -- speculation: the answer prepared during a pause -------------------------------------

    def speculate(self, prepare: Callable[[], Callable[[str], None]] | None = None) -> bool:
        """The user paused: start the final answer on the input so far, in the background.

        `end()` keeps it if the input ends unchanged; `feed()`/`revise()` with new text, or
        `discard_speculation()` (speech resumed), abort it. An inference in flight goes on
        beside it; when an inference lands, the answer is prepared again with it (the earlier
        one is kept until the new one streams, in case the input ends before). With the wait
        policy the answer first waits for the inference in flight, as `end()` would.
        `prepare`, called once per answer prepared, returns where that answer's text deltas
        go as they are generated (e.g. to synthesise its first sentence ahead), as `end()`
        would publish them, whether or not it is kept. Returns False, doing nothing, unless
        `config.speculates` and there is new input to answer.
        """
        if not self.config.speculates or self._ended or not self._input.strip():
            return False
        if self._speculation is not None and self._speculation.text == self._input:
            return False
        self.discard_speculation("input changed")
        self._prepare = prepare
        self._start_speculation()
        return True

    def _start_speculation(self) -> None:
        call_id = f"{self._id}-t{self.turn}-s{next(self._calls)}"
        text = self._input
        self._publish(SpeculationStarted, call_id=call_id, text=text)
        on_text = self._prepare() if self._prepare is not None else None
        chunks = self._speculative_chunks(text, call_id, on_text)
        self._speculation = SpeculativeAnswer(
            text, call_id, chunks, self.answer_engine.abort, on_streaming=self._on_streaming
        )
        if self.config.end_policy is EndPolicy.ABORT:  # with `wait` it waits for the thinker
            self._answer_prefilled.clear()

    def _on_streaming(self, speculation: SpeculativeAnswer) -> None:
        """A prepared answer has its first text: the one it replaces goes, thinking goes on."""
        if speculation is not self._speculation:
            return
        self._answer_prefilled.set()
        if self._fallback is not None:
            self._drop(self._fallback, "prepared again")
            self._fallback = None

    def _prepare_again(self) -> None:
        """An inference landed: prepare the answer again so that it uses it."""
        newest = self._speculation
        if newest is None or self._ended or newest.text != self._input:
            return
        if newest.streaming or self._fallback is None:
            if self._fallback is not None:
                self._drop(self._fallback, "prepared again")
            self._fallback = newest  # until the new one streams
        else:  # still in its prefill, while an older one streams: that one stays
            self._drop(newest, "prepared again")
        self._speculation = None
        self._start_speculation()

    def _speculations(self) -> list[SpeculativeAnswer]:
        return [s for s in (self._speculation, self._fallback) if s is not None]

    async def _speculative_chunks(
        self, text: str, call_id: str, on_text: Callable[[str], None] | None
    ) -> AsyncIterator[Chunk]:
        if self.config.end_policy is EndPolicy.WAIT:
            await self._idle.wait()  # the in-flight inference is part of the answer
        messages, options = await self._answer_request(text, trim_history=False)
        async for chunk in self._final_chunks(messages, options, option_style(text), call_id):
            if on_text is not None and chunk.text:
                on_text(chunk.text)
            yield chunk

    def _drop(self, speculation: SpeculativeAnswer, reason: str) -> None:
        speculation.cancel()
        self._publish(
            SpeculationDiscarded,
            call_id=speculation.call_id,
            reason=reason,
            generated_chars=speculation.generated_chars,
        )

    def discard_speculation(self, reason: str) -> None:
        """Drop the speculative answers, if any (abort their requests); nothing of them
        remains."""
        for speculation in self._speculations():
            self._drop(speculation, reason)
        self._speculation = self._fallback = None
        self._answer_prefilled.set()

    def _keep_speculation(self) -> SpeculativeAnswer | None:
        """At the end of input: the prepared answer to keep (the newest one on this input,
        unless it is still in its prefill and an older one streams); the others go."""
        fresh = [s for s in (self._speculation, self._fallback) if s and s.text == self._input]
        kept = next((s for s in fresh if s.streaming), fresh[0] if fresh else None)
        for speculation in self._speculations():
            if speculation is not kept:
                reason = "input changed" if speculation.text != self._input else "not ready"
                self._drop(speculation, reason)
        self._speculation = self._fallback = None
        self._answer_prefilled.set()
        return kept

    # -- end of input and the answer -------------------------------------------------------

    async def end(self) -> TurnResult:
        """Close the input, stream the answer (as events) and return the turn's result.

        Raises `EngineError` (after publishing an error event) if the answer cannot be made;
        the session is ready for a new turn either way.
        """
        self._ended = True
        in_flight = self._in_flight is not None
        input_ended_t = self._publish(InputEnded, text=self._input, in_flight=in_flight).t
        speculation = self._keep_speculation()
        try:
            await self._stop_thinking()
            return await self._answer(input_ended_t, in_flight, speculation)
        finally:
            self._next_turn()

    async def _stop_thinking(self) -> None:
        if self._thinker is None:
            return
        if self.config.end_policy is EndPolicy.ABORT:
            self._thinker.cancel("input ended")
        self._wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._thinker

    def _answer_prompt(
        self, text: str, options: tuple[Option, ...]
    ) -> Callable[[list[Message]], list[Message]]:
        """How to build the final prompt for input `text`, given the history to show."""
        cfg = self.config
        instruction = cfg.answer_instruction
        if not instruction and options:
            instruction = MULTIPLE_CHOICE_INSTRUCTION
        elif not instruction and cfg.answer_style is AnswerStyle.SPOKEN:
            instruction = SPOKEN_ANSWER_INSTRUCTION
        if cfg.mode is Mode.BASELINE:
            return lambda history: baseline_messages(history, text, instruction)

        def build(history: list[Message]) -> list[Message]:
            rest = text[len(self.memory.consumed_text) :]
            steps = self.memory.steps
            messages = final_messages(
                cfg.prompt_format, history, steps, rest, instruction, cfg.final_instruction
            )
            if cfg.answer_prefix and options:
                messages.append({"role": "assistant", "content": cfg.answer_prefix})
            return messages

        return build

    async def _answer_request(
        self, text: str, trim_history: bool
    ) -> tuple[list[Message], tuple[Option, ...]]:
        """The final prompt for input `text`, fitted to the answer engine, and the options
        the input offers (none: an open question)."""
        options = parse_options(text)
        settings = self.config.answer
        if options:  # the letter continuation must fit after the longest reply
            settings = replace(settings, max_tokens=settings.max_tokens + LETTER_RESERVE_TOKENS)
        build = self._answer_prompt(text, options)
        messages = await self._fit(self.answer_engine, settings, build, trim_history)
        return messages, options

    async def _final_chunks(
        self,
        messages: list[Message],
        options: tuple[Option, ...],
        style: OptionStyle,
        call_id: str,
    ) -> AsyncIterator[Chunk]:
        """The final answer's text deltas (a prefill included), then one `done` chunk with
        the answer's `AnswerUsage`.

        With options, the answer names one of them: a prefilled reply is the letter alone,
        constrained to the labels; a free reply that states no valid letter (the token limit
        cut it, or it never said) gets one continuation, "... The answer is (" and the
        constrained letter, as evaluation harnesses do for chain-of-thought; its time counts.
        In the spoken style the reply is not said; the chosen option is ("B: <its text>").
        """
        cfg = self.config
        engine = self.answer_engine
        labels = [option.label for option in options]
        prefix = messages[-1]["content"] if messages[-1]["role"] == "assistant" else ""
        settings = cfg.answer
        debias = bool(labels) and cfg.calibrate_letter and engine.reports_logprobs
        spoken = cfg.answer_style is AnswerStyle.SPOKEN
        if labels and prefix:
            closing = ")" if prefix.endswith("(") else ""
            if debias:
                letter, text, usages = await self._rotated_letter(
                    messages, options, closing, call_id
                )
            else:
                letter, text, usage = await self._letter(messages, labels, closing, call_id, None)
                usages = [usage]
            chosen = next((o for o in options if o.label == letter), None)
            if spoken and chosen:
                yield Chunk(text=spoken_choice(chosen))
            else:  # an engine that cannot enforce the letter's regex may say anything
                yield Chunk(text=prefix + (letter + closing if letter else text))
            yield Chunk(done=True, usage=_answer_usage(usages, False))
            return
        prior: asyncio.Task[dict[str, float]] | None = None
        if debias:  # measured once per process, beside the reply: ready by the time the letter is
            build = letter_prompt(cfg)
            prior = asyncio.ensure_future(letter_prior(engine, build, labels, ")", style))
            prior.add_done_callback(_retrieve_exception)
        if labels and cfg.mode is Mode.LIVEMIND:
            budget = min(settings.max_tokens, CHOICE_REPLY_MAX_TOKENS)
            settings = replace(settings, max_tokens=budget)
        say = SpokenText() if spoken and not options else None
        parts = [prefix]
        usages: list[Usage] = []
        # In the spoken style only the chosen option is said: once the reply has stated its
        # letter, the rest would be generated for nobody, and first audio waits for it.
        stop_at_letter = spoken and bool(labels) and not prefix
        stopped = False
        async for chunk in engine.stream(messages, settings, call_id):
            if chunk.text and not stopped:
                text = chunk.text if len(parts) > 1 else prefix + chunk.text
                parts.append(chunk.text)
                if say is not None:
                    text = say.feed(text)
                if text and not (spoken and options):
                    yield Chunk(text=text)
                if stop_at_letter and stated_answer("".join(parts), labels):
                    stopped = True
                    await engine.abort(call_id)  # its usage still arrives, with the stream's end
            if chunk.usage is not None:
                usages.append(chunk.usage)
        if stopped and usages:
            usages[0] = replace(usages[0], finish_reason="stop")  # it said what it had to
        if say is not None and (tail := say.finish()):
            yield Chunk(text=tail)
        reply = "".join(parts)
        letter = extract_answer(reply, labels) if labels else None
        extracted = bool(labels) and letter is None
        if extracted:
            request = LETTER_REQUEST if reply.strip() else LETTER_REQUEST.lstrip()
            continued = [
                *(messages[:-1] if prefix else messages),
                {"role": "assistant", "content": reply + request},
            ]
            letter, stated, letter_usage = await self._letter(
                continued, labels, ")", f"{call_id}-letter", prior
            )
            usages.append(letter_usage)
            if not spoken:
                yield Chunk(text=request + (letter + ")" if letter else stated))
        if spoken and options:
            chosen = next((o for o in options if o.label == letter), None)
            yield Chunk(text=spoken_choice(chosen) if chosen else reply)
        yield Chunk(done=True, usage=_answer_usage(usages, extracted))

    async def _rotated_letter(
        self, messages: list[Message], options: tuple[Option, ...], closing: str, call_id: str
    ) -> tuple[str | None, str, list[Usage]]:
        """The letter after the prefill, whichever letter the preferred option sits under
        (`calibration.rotated_choice`), the text generated (the letter), and the usages."""
        labels = [option.label for option in options]
        settings = replace(
            LETTER_SETTINGS,
            max_tokens=1,
            regex=letter_regex(labels, closing),
            top_logprobs=LETTER_TOP_LOGPROBS,
        )
        pairs = [(option.label, option.text) for option in options]
        letter, usages = await rotated_choice(
            self.answer_engine, messages, pairs, settings, call_id
        )
        # One token each, by design: the letter is all that was asked for.
        return letter, letter or "", [replace(u, finish_reason="stop") for u in usages]

    async def _letter(
        self,
        messages: list[Message],
        labels: list[str],
        closing: str,
        call_id: str,
        prior: asyncio.Task[dict[str, float]] | None,
    ) -> tuple[str | None, str, Usage]:
        """The letter `messages` (ending in "... The answer is (") are answered with: the
        greedy one among `labels`, or with `prior`, the one that most exceeds its prior;
        and the text generated."""
        settings = replace(LETTER_SETTINGS, regex=letter_regex(labels, closing))
        if prior is not None:
            settings = replace(settings, top_logprobs=LETTER_TOP_LOGPROBS)
        text, top, usage = "", None, Usage()
        async for chunk in self.answer_engine.stream(messages, settings, call_id):
            text += chunk.text
            if chunk.top_logprobs and top is None:
                top = label_logprobs(chunk.top_logprobs[0], labels)
            usage = chunk.usage or usage
        greedy = extract_answer("The answer is (" + text, labels)
        if prior is None or not top:
            return greedy, text, usage
        try:
            odds = await asyncio.shield(prior)  # a dropped answer leaves it measured for the next
        except EngineError:
            return greedy, text, usage  # no prior this time; the next answer measures it again
        return calibrated_letter(top, odds, labels) or greedy, text, usage

    async def _answer(
        self, input_ended_t: float, in_flight: bool, speculation: SpeculativeAnswer | None
    ) -> TurnResult:
        cfg = self.config
        call_id = f"{self._id}-t{self.turn}-answer"
        parts: list[str] = []
        usage = Usage()
        first_token_t: float | None = None
        self._answer_stop = stop = asyncio.Event()
        try:
            if speculation is not None:  # prepared during the pause: kept, as it stands
                call_id = speculation.call_id
                chunks = speculation.replay()
            else:
                messages, options = await self._answer_request(self._input, trim_history=True)
                style = option_style(self._input)
                chunks = self._final_chunks(messages, options, style, call_id)
            self._publish(
                AnswerStarted,
                call_id=call_id,
                mode=cfg.mode.value,
                speculative=speculation is not None,
            )
            async with contextlib.aclosing(chunks):
                async for chunk in chunks:
                    if stop.is_set():  # checked per chunk: tokens come every few tens of ms
                        break
                    if chunk.text:
                        text = chunk.text
                        if first_token_t is None:
                            first_token_t = self._publish(AnswerFirstToken, call_id=call_id).t
                        parts.append(text)
                        self._publish(AnswerDelta, text=text)
                    usage = chunk.usage or usage
        except EngineError as exc:
            self._publish(ErrorEvent, message=f"answer failed: {exc}")
            raise
        finally:
            self._answer_stop = None
        if stop.is_set():
            if speculation is not None:
                speculation.cancel()  # aborts its request in the engine too
            else:
                abort_in_background(self.answer_engine.abort, call_id)  # closing may not abort
            usage = replace(usage, finish_reason="interrupted")
        answer = "".join(parts)
        done = self._publish(
            AnswerDone,
            call_id=call_id,
            text=answer,
            finish_reason=usage.finish_reason,
            tokens=_token_counts(usage),
            letter_extracted=isinstance(usage, AnswerUsage) and usage.letter_extracted,
        )
        self.history += [
            {"role": "user", "content": self._input},
            {"role": "assistant", "content": answer},
        ]
        return TurnResult(
            turn=self.turn,
            text=self._input,
            answer=answer,
            inferences=self.memory.inferences(),
            input_ended_t=input_ended_t,
            answer_first_token_t=first_token_t,
            answer_done_t=done.t,
            in_flight_at_end=in_flight,
            finish_reason=usage.finish_reason,
            tokens=done.tokens,
        )

    def interrupt_answer(self) -> bool:
        """The user spoke over the answer (barge-in): stop generating it. The text generated
        so far stays the turn's answer, in the history too, and `AnswerDone` has
        `finish_reason` "interrupted". Returns False when no answer is being generated."""
        if self._answer_stop is None or self._answer_stop.is_set():
            return False
        self._answer_stop.set()
        return True

    async def discard_turn(self, reason: str) -> None:
        """Forget this turn's input unanswered (it was noise, or the user is asked to say it
        again): the inference in flight and the prepared answers are aborted with `reason`,
        its inferences are dropped, nothing of it enters the history, and the session is
        ready for the next turn."""
        if self._ended:
            raise RuntimeError("input has ended for this turn: it is being answered")
        self._ended = True  # nothing more is thought about this input
        self.discard_speculation(reason)
        if self._thinker is not None:
            self._thinker.cancel(reason)
            self._wake.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self._thinker
        self._next_turn()

    def _next_turn(self) -> None:
        self.turn += 1
        self.memory.clear()
        self._reset_turn_state()

    def _reset_turn_state(self) -> None:
        self._input = ""
        self._segmenter: StreamingSegmenter | None = None  # made with the turn's first input
        self._ended = False
        self._thinking_failed = False
        self._pause_end = 0  # the input up to the speaker's last pause is a phrase
        self._speculation: SpeculativeAnswer | None = None  # the newest answer prepared
        self._fallback: SpeculativeAnswer | None = None  # the one before, until that streams
        self._prepare: Callable[[], Callable[[str], None]] | None = None
        # Cleared while a speculative answer is in its prefill: no new inference starts then.
        self._answer_prefilled = asyncio.Event()
        self._answer_prefilled.set()
        self._thinker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # set while there is nothing to think about
        self._idle.set()

    async def close(self) -> None:
        """Stop any background inference (the engines belong to the caller)."""
        for speculation in self._speculations():
            speculation.cancel()
        self._speculation = self._fallback = None
        if self._thinker is not None:
            self._thinker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._thinker
            self._thinker = None

    def _publish(self, event_type: type[E], **fields: object) -> E:
        event = event_type(t=self.clock.now(), turn=self.turn, **fields)
        self.bus.publish(event)
        return event
