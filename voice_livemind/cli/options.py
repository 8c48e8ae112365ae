"""Options every command shares (model, LiveMind) and what they build: engines and the session
configuration. Each default comes from `SessionConfig`, where it is written once."""

from __future__ import annotations

import argparse
import os

from ..livemind.actions import ACTION_REGEX
from ..livemind.config import AnswerStyle, EndPolicy, Mode, SessionConfig, Speculate
from ..livemind.prompts import FINAL_INSTRUCTION, WEIGH_INSTRUCTION, PromptFormat
from ..livemind.samples import MULTIPLE_CHOICE_ANSWER_PREFIX
from ..livemind.segmenter import Granularity
from ..llm.base import ChatEngine, SamplingSettings
from ..voice.repeat import RepeatConfig

DEFAULTS = SessionConfig()


def add_engine_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        default=None,
        help="offline model (smollm2-135m, the default; qwen2.5-coder-0.5b, qwen2.5-coder-1.5b "
        "after `make models`), a .gguf file, a local HF directory or an HF model id",
    )
    group.add_argument(
        "--answer-model",
        default=None,
        help="a second model that writes the final answer (collaborative mode)",
    )
    group.add_argument(
        "--llm-url",
        default=None,
        help="OpenAI-compatible server (e.g. http://host:8000/v1) instead of in-process vLLM",
    )
    group.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", "EMPTY"))
    group.add_argument("--max-model-len", type=int, default=2048, help="context window (tokens)")


def add_livemind_args(parser: argparse.ArgumentParser, both: bool = False) -> None:
    group = parser.add_argument_group("LiveMind")
    modes = [m.value for m in Mode] + (["both"] if both else [])
    group.add_argument("--mode", choices=modes, default="both" if both else Mode.LIVEMIND.value)
    group.add_argument(
        "--format",
        choices=[f.value for f in PromptFormat],
        default=DEFAULTS.prompt_format.value,
    )
    group.add_argument(
        "--granularity",
        choices=[g.value for g in Granularity],
        default=DEFAULTS.granularity.value,
    )
    group.add_argument("--min-segment-chars", type=int, default=DEFAULTS.min_segment_chars)
    group.add_argument(
        "--end-policy",
        choices=[p.value for p in EndPolicy],
        default=DEFAULTS.end_policy.value,
        help="at end of input: abort the in-flight inference, or wait for it (paper)",
    )
    group.add_argument("--max-inference-tokens", type=int, default=DEFAULTS.inference.max_tokens)
    group.add_argument("--max-answer-tokens", type=int, default=DEFAULTS.answer.max_tokens)
    group.add_argument(
        "--repetition-penalty",
        type=float,
        default=DEFAULTS.answer.repetition_penalty,
        help="for the answer, in both modes alike (1.0: off)",
    )
    group.add_argument(
        "--answer-prefix",
        default=None,
        help="LiveMind's final reply to a question with options opens with this text, an "
        "assistant prefill ('The answer is (': the letter alone follows, chosen over rotations "
        "of the options; '': the reply is free and its letter is read from it or asked for). "
        "Default: the prefill "
        f"for a spoken answer ({MULTIPLE_CHOICE_ANSWER_PREFIX!r}, which says only the chosen "
        "option), none for the benchmarks' text answers",
    )
    group.add_argument(
        "--weigh-options",
        action="store_true",
        help="LiveMind's final step weighs the options in a sentence or two before its answer "
        "(the letter is then read from it or asked for)",
    )
    group.add_argument(
        "--speculate",
        choices=[v.value for v in Speculate],
        default=DEFAULTS.speculate.value,
        help="spoken input: prepare the answer while the end of the utterance is being "
        "confirmed, in LiveMind mode (default), in both modes, or not at all",
    )
    group.add_argument(
        "--free-actions",
        action="store_true",
        help="do not constrain inference replies to the action format",
    )


def add_asr_args(parser: argparse.ArgumentParser) -> None:
    """Which Whisper model decodes speech, and on what hardware."""
    group = parser.add_argument_group("speech recognition")
    group.add_argument("--asr-model", default=None, help="faster-whisper model (default tiny.en)")
    group.add_argument(
        "--asr-device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="where Whisper runs (auto: a GPU when CTranslate2 sees one)",
    )
    group.add_argument(
        "--asr-compute-type",
        default="default",
        help="CTranslate2 compute type (default: int8 on CPU, float16 on CUDA)",
    )
    group.add_argument(
        "--asr-threads", type=int, default=2, help="CPU threads Whisper decodes with"
    )


def add_tts_args(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Which voice speaks the answers."""
    parser.add_argument(
        "--tts",
        choices=["auto", "pyttsx3", "espeak-ng", "piper"],
        default="auto",
        help="the answer's voice: auto (pyttsx3, else espeak-ng), or piper, a neural voice "
        "(the optional extra voice-livemind[piper])",
    )


def add_endpointing_args(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """How a spoken turn ends."""
    parser.add_argument(
        "--endpointing",
        choices=["silence", "fused"],
        default="silence",
        help="how a turn ends: the VAD's fixed silence, or a silence chosen per pause from "
        "Smart Turn, the transcript and LiveMind's state (the fixed one as fallback)",
    )


def add_repeat_args(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """When the spoken assistant asks the user to say it again."""
    parser.add_argument(
        "--repeat-below",
        type=float,
        default=RepeatConfig().min_confidence,
        metavar="P",
        help="ask the user to say it again, instead of answering, when the mean probability "
        "Whisper gives the words of an utterance is below P (0 to 1; 0 turns this off)",
    )


def repeat_config(args: argparse.Namespace) -> RepeatConfig:
    """The repeat check `--repeat-below` sets (a bad value: a one-line error)."""
    try:
        return RepeatConfig(min_confidence=args.repeat_below)
    except ValueError:
        raise ValueError(
            f"--repeat-below must be between 0 and 1, got {args.repeat_below}"
        ) from None


def whisper_options(args: argparse.Namespace) -> dict[str, object]:
    """The keyword arguments of `asr.models.load_whisper` the command line sets."""
    if args.asr_threads < 1:
        raise ValueError("--asr-threads must be >= 1")
    return {
        "device": args.asr_device,
        "compute_type": args.asr_compute_type,
        "cpu_threads": args.asr_threads,
    }


def add_common_args(parser: argparse.ArgumentParser, both: bool = False) -> None:
    """The model and LiveMind options; `both` offers `--mode both` (benchmarks)."""
    add_engine_args(parser)
    add_livemind_args(parser, both=both)


def session_config(
    args: argparse.Namespace,
    answer_instruction: str = "",
    answer_style: AnswerStyle = AnswerStyle.SPOKEN,
) -> SessionConfig:
    """The session settings from the command line. The assistant commands answer in the
    spoken style; benchmarks score the model's text."""
    return SessionConfig(
        mode=Mode.LIVEMIND if args.mode == "both" else Mode(args.mode),
        prompt_format=PromptFormat(args.format),
        granularity=Granularity(args.granularity),
        min_segment_chars=args.min_segment_chars,
        end_policy=EndPolicy(args.end_policy),
        inference=SamplingSettings(
            max_tokens=args.max_inference_tokens,
            regex=None if args.free_actions else ACTION_REGEX,
            repetition_penalty=DEFAULTS.inference.repetition_penalty,
        ),
        answer=SamplingSettings(
            max_tokens=args.max_answer_tokens, repetition_penalty=args.repetition_penalty
        ),
        answer_instruction=answer_instruction,
        answer_prefix=_answer_prefix(args.answer_prefix, answer_style, args.weigh_options),
        answer_style=answer_style,
        final_instruction=WEIGH_INSTRUCTION if args.weigh_options else FINAL_INSTRUCTION,
        speculate=Speculate(args.speculate),
    )


def _answer_prefix(given: str | None, style: AnswerStyle, weigh_options: bool) -> str:
    """A spoken answer says the chosen option and nothing of the reply, so LiveMind's final
    step goes straight to the letter (chosen over rotations of the options) and is ready in
    the user's pause; a text answer, or one asked to weigh the options first, keeps its free
    reply."""
    if given is not None:
        return given
    if style is AnswerStyle.SPOKEN and not weigh_options:
        return MULTIPLE_CHOICE_ANSWER_PREFIX
    return DEFAULTS.answer_prefix


async def open_engines(
    args: argparse.Namespace,
) -> tuple[ChatEngine, ChatEngine | None]:
    """The engine `--model` names and, in collaborative mode, the `--answer-model` one."""
    from ..llm import open_engine

    common = dict(llm_url=args.llm_url, api_key=args.api_key, max_model_len=args.max_model_len)
    engine = await open_engine(args.model, **common)
    answer_engine = None
    if args.answer_model and args.answer_model != args.model:
        answer_engine = await open_engine(args.answer_model, **common)
    return engine, answer_engine
