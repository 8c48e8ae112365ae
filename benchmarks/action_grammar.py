"""What LiveMind's action grammar costs the engine per generated token.

vLLM's structured outputs (xgrammar) compute, before every decoding step of a constrained
request, which tokens the grammar allows: in the engine's scheduler, on the CPU, while every
other request (an answer waiting to start, too) waits for the step. This measures that mask for
each token of a typical inference reply, for the action regex in use and for the earlier one
whose counted repetition ("{0,158}", one sentence of at most 160 characters) made the mask cost
about 0.2 s a token here.

    .venv/bin/python benchmarks/action_grammar.py [--model PATH]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import Any

from voice_livemind.livemind.actions import ACTION_REGEX

COUNTED_REGEX = r"action (inference\. [^\s.!?]([^\n.!?]|\.[0-9]){0,158}[.!?]|wait\.)"
REPLY = "action inference. The farmer harvests the crop in autumn, when it is ripe and dry."


def mask_times(regex: str, tokenizer: Any, vocab_size: int) -> tuple[float, list[float]]:
    """(compile seconds, seconds per token mask) for `REPLY` under `regex`."""
    import xgrammar

    info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
    started = time.perf_counter()
    grammar = xgrammar.GrammarCompiler(info).compile_regex(regex)
    compiled = time.perf_counter() - started
    matcher = xgrammar.GrammarMatcher(grammar)
    bitmask = xgrammar.allocate_token_bitmask(1, info.vocab_size)
    times = []
    for token in tokenizer.encode(REPLY, add_special_tokens=False):
        started = time.perf_counter()
        matcher.fill_next_token_bitmask(bitmask)
        times.append(time.perf_counter() - started)
        if not matcher.accept_token(token):
            raise ValueError(f"{regex!r} rejects {tokenizer.decode([token])!r}")
    return compiled, times


def main() -> None:
    from transformers import AutoConfig, AutoTokenizer

    from voice_livemind.llm.models import resolve_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="tokenizer (default: the offline SmolLM2)")
    args = parser.parse_args()
    path = resolve_model(args.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    vocab_size = AutoConfig.from_pretrained(path).vocab_size
    print(f"{platform.processor() or platform.machine()}; tokenizer {path}; reply {REPLY!r}")
    print("| action regex | compile | mask per token, mean | max |")
    print("|---|---|---|---|")
    for label, regex in (("in use", ACTION_REGEX), ("counted {0,158} (before)", COUNTED_REGEX)):
        compiled, times = mask_times(regex, tokenizer, vocab_size)
        print(
            f"| {label} | {compiled * 1000:.0f} ms | {statistics.mean(times) * 1000:.2f} ms "
            f"| {max(times) * 1000:.2f} ms |"
        )


if __name__ == "__main__":
    main()
