"""A model's own MMLU accuracy, read the way evaluation harnesses read it: no generation.

Each question goes through the model once with transformers, 0-shot, in two prompt shapes, and
the option letter with the highest next-token logit is the answer:
- plain: "The following are multiple choice questions (with answers) about <subject>." then
  the question, "A. ..." lines and "Answer:" (lm-evaluation-harness's MMLU prompt);
- chat: the model's chat template, the question and its options, "Answer with the letter of
  the correct option.", and the reply opened with "The answer is ".
This is the ceiling LiveMind and the chain of thought are compared against: a model that does
not clear chance here cannot show either mode's accuracy.

    python benchmarks/harness_mmlu.py \\
        --model ~/.cache/voice-livemind/models/Qwen2.5-Coder-1.5B-Instruct --n 100 --seed 7
"""

from __future__ import annotations

import argparse
from collections import Counter

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from voice_livemind.bench.analyze.plots_accuracy import wilson_interval
from voice_livemind.bench.datasets import load_questions, sample_questions

LETTERS = "ABCD"


def main(args: argparse.Namespace) -> None:
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16).eval()
    questions = sample_questions(load_questions(args.data, "mmlu"), args.n, args.seed)
    # The letter's token after a space ("Answer: B") and straight after text ("is B").
    spaced = [tokenizer.encode(" " + x, add_special_tokens=False)[-1] for x in LETTERS]
    bare = [tokenizer.encode(x, add_special_tokens=False)[-1] for x in LETTERS]
    right = Counter()
    chosen: dict[str, Counter[str]] = {"plain": Counter(), "chat": Counter()}
    for i, q in enumerate(questions, start=1):
        body = q.question.strip() + "\n"
        body += "\n".join(f"{x}. {o}" for x, o in zip(LETTERS, q.options, strict=False))
        plain = (
            f"The following are multiple choice questions (with answers) about {q.category}."
            f"\n\n{body}\nAnswer:"
        )
        chat = tokenizer.apply_chat_template(
            [{"role": "user", "content": body + "\nAnswer with the letter of the correct option."}],
            tokenize=False,
            add_generation_prompt=True,
        )
        for shape, text, ids in (("plain", plain, spaced), ("chat", chat + "The answer is ", bare)):
            tokens = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids
            with torch.no_grad():
                logits = model(tokens).logits[0, -1]
            letter = LETTERS[int(torch.stack([logits[j] for j in ids]).argmax())]
            chosen[shape][letter] += 1
            right[shape] += letter == q.answer
        if i % 10 == 0:
            print(f"{i}/{len(questions)}: plain {right['plain']}, chat {right['chat']}", flush=True)
    n = len(questions)
    print(f"model {args.model}, {n} questions (seed {args.seed}, {args.data})")
    print("| prompt | accuracy [95% CI] | " + " | ".join(LETTERS) + " |")
    print("|---|---|" + "---|" * len(LETTERS))
    for shape in ("plain", "chat"):
        low, high = wilson_interval(right[shape], n)
        shares = " | ".join(f"{chosen[shape][x] / n:.0%}" for x in LETTERS)
        print(f"| {shape} | {right[shape] / n:.0%} [{low:.0%}, {high:.0%}] | {shares} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a converted model directory")
    parser.add_argument("--data", default="../shared/data/mmlu_test.jsonl")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    main(parser.parse_args())
