"""Why LiveMind's prefilled answer collapses onto one letter: the model's own letter odds.

For MMLU questions, LiveMind's final prompt (no inferences: the whole question as the new
input, the final instruction, the prefill "The answer is (") goes through the model once with
transformers, and the next-token probabilities of the option letters are read. If the model
puts most of its mass on one letter whatever the question, the constrained letter cannot fix
the collapse: the final step needs room to weigh the options (a short reply before the letter).

    python benchmarks/letter_bias.py --model DIR --n 40 --seed 7 \\
        --out benchmarks/results/accuracy/letter_bias_seed7.json
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from voice_livemind.bench.datasets import load_questions, sample_questions
from voice_livemind.livemind.config import SessionConfig
from voice_livemind.livemind.prompts import final_messages
from voice_livemind.livemind.samples import (
    MULTIPLE_CHOICE_ANSWER_PREFIX,
    MULTIPLE_CHOICE_INSTRUCTION,
)


def main(args: argparse.Namespace) -> None:
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.bfloat16)
    model.eval()
    config = SessionConfig()
    questions = sample_questions(load_questions(args.data), args.n, args.seed)
    rows = []
    for q in questions:
        text = q.question.rstrip() + "\n" + q.options_text
        messages = final_messages(config.prompt_format, [], [], text, MULTIPLE_CHOICE_INSTRUCTION)
        messages.append({"role": "assistant", "content": MULTIPLE_CHOICE_ANSWER_PREFIX})
        prompt = tokenizer.apply_chat_template(
            messages, continue_final_message=True, tokenize=False
        )
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            logits = model(ids).logits[0, -1].float()
        letter_ids = [tokenizer.convert_tokens_to_ids(letter) for letter in q.letters]
        probs = torch.softmax(logits[letter_ids], dim=0).tolist()
        mass = torch.softmax(logits, dim=0)[letter_ids].sum().item()
        rows.append(
            {
                "id": q.id,
                "answer": q.answer,
                "probs": dict(zip(q.letters, probs, strict=True)),
                "letter_mass": mass,
            }
        )
    top = Counter(max(r["probs"], key=r["probs"].get) for r in rows)
    mean = {letter: sum(r["probs"].get(letter, 0.0) for r in rows) / len(rows) for letter in "ABCD"}
    truth = Counter(r["answer"] for r in rows)
    right = sum(1 for r in rows if max(r["probs"], key=r["probs"].get) == r["answer"])
    summary = {
        "n": len(rows),
        "argmax_letters": dict(sorted(top.items())),
        "truth_letters": dict(sorted(truth.items())),
        "mean_probability": mean,
        "argmax_accuracy": right / len(rows),
        "mean_letter_mass": sum(r["letter_mass"] for r in rows) / len(rows),
    }
    print(json.dumps(summary, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"summary": summary, "questions": rows}, indent=1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default="../shared/data/mmlu_test.jsonl")
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", required=True)
    main(parser.parse_args())
